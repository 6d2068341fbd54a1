"""The one loader of stable-baselines3 zips in genenv; it never runs code from the file.

SB3 stores some attributes of a saved model (its policy class, spaces, schedules, buffer class,
policy_kwargs holding a class) as cloudpickle blobs under ":serialized:" in the zip's `data`
JSON, and `BaseAlgorithm.load` unpickles them: loading someone's zip is running their code.
SB3 lets a caller replace any such entry through `custom_objects`, and then never touches the
blob. This module builds a replacement for EVERY serialized entry, from the readable JSON that
SB3 writes beside each blob, checked against allow-lists:

- `policy_class`, `rollout_buffer_class`, `replay_buffer_class`: one of SB3's own classes, matched
  by module and `__init__` name (`policy_aliases` of the algorithm; SB3's buffers);
- `observation_space`, `action_space`: a `gymnasium.spaces.Box` rebuilt from dtype, shape, low
  and high (or the spaces the caller passes, e.g. its env's);
- `policy_kwargs`: literal values, `activation_fn` / `optimizer_class` /
  `features_extractor_class` from short allow-lists of torch and SB3 classes;
- schedules (`lr_schedule`, `clip_range`, `clip_range_vf`): a constant read from the
  `ConstantSchedule(val=...)` repr; `train_freq`, `action_noise`: the caller's override or the
  algorithm's constructor default;
- rollout bookkeeping (`_last_obs`, `ep_info_buffer`, ...): None, so continued training resets
  its envs first, as a new model does.

A serialized entry that none of these rules covers (custom classes, arbitrary schedules, unknown
keys) makes the load fail with a clear error naming the entry: genenv refuses such zips rather
than unpickle them. The tensors (`*.pth`) are read by SB3 with `torch.load(weights_only=True)`,
which unpickles nothing but tensors and plain containers; anything else there is refused too.
"""

from __future__ import annotations

import ast
import inspect
import json
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

SERIALIZED = ":serialized:"
SB3_ALGOS = ("PPO", "A2C", "SAC", "TD3", "DDPG")
_ACTIVATIONS = ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Softplus", "Mish")
_OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "SGD")
_EXTRACTORS = ("FlattenExtractor", "NatureCNN", "CombinedExtractor")
_BUFFERS = ("RolloutBuffer", "DictRolloutBuffer", "ReplayBuffer", "DictReplayBuffer")
_SCHEDULES = ("lr_schedule", "clip_range", "clip_range_vf")
# Rollout bookkeeping SB3 saves as pickles; None makes SB3 start afresh (reset the env, new
# episode-info buffers) when training continues, as it does for a new model.
_RUNTIME_STATE = (
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
)
_CLASS_REPR = re.compile(r"^<class '([A-Za-z0-9_.]+)'>$")


class UnsafeZipError(ValueError):
    """The zip holds a pickled entry genenv cannot replace with a known, safe value."""


def read_data(path: str | Path) -> dict[str, Any]:
    """The `data` JSON of the SB3 zip at `path` (clear errors for a missing or foreign file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no policy file at {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a stable-baselines3 model zip ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a stable-baselines3 model zip (its data is not a dict)")
    return data


def algorithm_name(path: str | Path, data: dict[str, Any] | None = None) -> str:
    """Which SB3 algorithm saved the zip at `path` ("PPO", "A2C", "SAC", "TD3" or "DDPG")."""
    data = read_data(path) if data is None else data
    policy = data.get("policy_class")
    module = str(policy.get("__module__", "")) if isinstance(policy, dict) else ""
    if module.startswith("stable_baselines3.sac."):
        return "SAC"
    if module.startswith("stable_baselines3.td3."):
        # DDPG is TD3 with one actor update per critic update and no target smoothing noise.
        ddpg = data.get("policy_delay") == 1 and data.get("target_noise_clip") == 0.0
        return "DDPG" if ddpg else "TD3"
    if module == "stable_baselines3.common.policies":
        return "PPO" if "clip_range" in data else "A2C"
    raise ValueError(
        f"{path}: cannot tell the SB3 algorithm from its policy class module {module!r}; "
        f"supported: {', '.join(SB3_ALGOS)}"
    )


def _match_class(entry: dict[str, Any], candidates: list[type], what: str) -> type:
    module, init = str(entry.get("__module__", "")), str(entry.get("__init__", ""))
    for cls in candidates:
        if cls.__module__ == module and init.startswith(f"<function {cls.__init__.__qualname__} "):
            return cls
    names = ", ".join(sorted(f"{c.__module__}.{c.__name__}" for c in candidates))
    raise UnsafeZipError(f"{what} is not one of SB3's own classes ({names})")


def _class_from_repr(text: Any, allowed: dict[str, type], what: str) -> type:
    match = _CLASS_REPR.match(str(text))
    full = match.group(1) if match else ""
    cls = allowed.get(full.rsplit(".", 1)[-1])
    if cls is None or f"{cls.__module__}.{cls.__name__}" != full:
        raise UnsafeZipError(f"{what} {text!r} is not one of {sorted(allowed)}")
    return cls


def _array(text: Any, what: str) -> np.ndarray:
    if isinstance(text, list):
        return np.asarray(text, dtype=np.float64)
    body = str(text)
    if "..." in body:
        raise UnsafeZipError(f"{what} is summarised ('...') in the zip and cannot be rebuilt")
    tokens = body.replace("[", " ").replace("]", " ").split()
    try:
        return np.asarray([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        raise UnsafeZipError(f"{what} {body[:60]!r} is not a list of numbers") from None


def _box(entry: dict[str, Any], what: str):
    import gymnasium as gym

    if entry.get(":type:") != "<class 'gymnasium.spaces.box.Box'>":
        raise UnsafeZipError(f"{what} is a {entry.get(':type:')}, genenv rebuilds only Box spaces")
    try:
        shape = tuple(int(x) for x in _array(entry["_shape"], f"{what} shape"))
        dtype = np.dtype(str(entry["dtype"]))
    except (KeyError, TypeError) as err:
        raise UnsafeZipError(f"{what} has no readable shape and dtype ({err})") from None
    low, high = _array(entry.get("low"), f"{what} low"), _array(entry.get("high"), f"{what} high")
    size = int(np.prod(shape))
    if low.size != size or high.size != size or dtype.kind != "f":
        raise UnsafeZipError(f"{what}: bounds do not match its shape {shape} and dtype {dtype}")
    return gym.spaces.Box(
        low.reshape(shape).astype(dtype), high.reshape(shape).astype(dtype), shape, dtype
    )


def _policy_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    import torch
    from stable_baselines3.common import torch_layers

    classes = {
        "activation_fn": {n: getattr(torch.nn, n) for n in _ACTIVATIONS},
        "optimizer_class": {n: getattr(torch.optim, n) for n in _OPTIMIZERS},
        "features_extractor_class": {n: getattr(torch_layers, n) for n in _EXTRACTORS},
    }
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key.startswith(":"):
            continue
        if key in classes:
            out[key] = _class_from_repr(value, classes[key], f"policy_kwargs[{key!r}]")
        elif isinstance(value, str):
            try:
                out[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise UnsafeZipError(
                    f"policy_kwargs[{key!r}] = {value[:60]!r} is not a literal value"
                ) from None
        else:
            out[key] = value
    return out


def _schedule(entry: dict[str, Any], key: str):
    from stable_baselines3.common.utils import ConstantSchedule, FloatSchedule

    match = re.fullmatch(r"ConstantSchedule\(val=([-+0-9.eE]+)\)", str(entry.get("value_schedule")))
    if entry.get(":type:") != "<class 'stable_baselines3.common.utils.FloatSchedule'>" or not match:
        raise UnsafeZipError(f"{key} is a pickled schedule that is not a readable constant")
    return FloatSchedule(ConstantSchedule(float(match.group(1))))


def safe_custom_objects(
    cls: type, data: dict[str, Any], overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A replacement for every ":serialized:" entry of `data` (SB3's `custom_objects`)."""
    from stable_baselines3.common import buffers

    overrides = dict(overrides or {})
    defaults = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {}
    for key, entry in data.items():
        if not (isinstance(entry, dict) and SERIALIZED in entry):
            continue  # plain JSON: SB3 reads it as is
        if key in overrides:
            out[key] = overrides[key]
        elif key == "policy_class":
            out[key] = _match_class(entry, list(cls.policy_aliases.values()), "policy_class")
        elif key in ("observation_space", "action_space"):
            out[key] = _box(entry, key)
        elif key == "policy_kwargs":
            out[key] = _policy_kwargs(entry)
        elif key in ("rollout_buffer_class", "replay_buffer_class"):
            out[key] = _match_class(entry, [getattr(buffers, n) for n in _BUFFERS], key)
        elif key in _SCHEDULES:
            out[key] = _schedule(entry, key)
        elif key in _RUNTIME_STATE:
            out[key] = None
        elif key in ("train_freq", "action_noise") and key in defaults:
            out[key] = defaults[key].default
        else:
            raise UnsafeZipError(f"entry {key!r} is pickled code that genenv does not run")
    return out


def load_sb3_model(
    path: str | Path,
    device: str = "cpu",
    env: Any = None,
    overrides: dict[str, Any] | None = None,
):
    """Load the SB3 model zip at `path` with nothing from the file executed.

    `env` (an SB3 VecEnv) supplies the exact spaces and is attached to the model; `overrides`
    replace serialized entries by name (e.g. a recipe's `train_freq`). Raises `UnsafeZipError`
    (a ValueError) for a zip whose pickled entries genenv cannot replace safely.
    """
    import stable_baselines3 as sb3

    path = Path(path)
    data = read_data(path)
    name = algorithm_name(path, data)
    cls = getattr(sb3, name)
    overrides = dict(overrides or {})
    if env is not None:
        overrides.setdefault("observation_space", env.observation_space)
        overrides.setdefault("action_space", env.action_space)
    try:
        custom = safe_custom_objects(cls, data, overrides)
    except UnsafeZipError as err:
        raise UnsafeZipError(
            f"{path}: refusing to load: {err} (genenv never unpickles agent zips)"
        ) from None
    left = [
        k for k, v in data.items() if isinstance(v, dict) and SERIALIZED in v and k not in custom
    ]
    if left:  # cannot happen by construction; kept as the last line of defence
        raise UnsafeZipError(f"{path}: refusing to load: pickled entries {left} not replaced")
    try:
        return cls.load(str(path), env=env, device=device, custom_objects=custom)
    except pickle.UnpicklingError:  # torch.load(weights_only=True) met more than tensors
        raise UnsafeZipError(
            f"{path}: refusing to load: its tensor files hold pickled objects other than "
            "tensors (genenv never unpickles agent zips)"
        ) from None
    except (KeyError, RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"{path}: not a loadable {name} zip ({type(err).__name__}: {err})"
        ) from None
