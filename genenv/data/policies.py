"""Policies for data collection: random actions, any callable, or a stable-baselines3 .zip.

A saved SB3 model is loaded with the algorithm class its own metadata names (an explicit table
below, read from the zip's `data` JSON), never by trying each class in turn. Loading an SB3 zip
runs SB3's own loader, which deserialises the objects SB3 stored in it: load only zips you trust.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]  # observation (obs_dim,) -> action (act_dim,)


def sb3_algorithm_name(path: str | Path) -> str:
    """Which SB3 algorithm saved the zip at `path` ("PPO", "A2C", "SAC", "TD3" or "DDPG")."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no policy file at {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a stable-baselines3 model zip ({err})") from err
    module = str(data.get("policy_class", {}).get("__module__", ""))
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
        "supported: PPO, A2C, SAC, TD3, DDPG"
    )


def load_sb3_policy(path: str | Path, deterministic: bool = False, device: str = "cpu") -> Policy:
    """A policy callable from an SB3 model zip (stochastic actions unless `deterministic`)."""
    import stable_baselines3 as sb3

    name = sb3_algorithm_name(path)
    model = getattr(sb3, name).load(str(path), device=device)

    def act(obs: np.ndarray) -> np.ndarray:
        action, _ = model.predict(obs, deterministic=deterministic)
        return np.asarray(action)

    act.description = f"sb3:{name}:{Path(path).name}"  # type: ignore[attr-defined]
    return act


def resolve_policy(policy: Any, deterministic: bool = False) -> tuple[Policy | None, str]:
    """(callable or None for uniform random actions, a description for the metadata)."""
    if policy is None or (isinstance(policy, str) and policy == "random"):
        return None, "random"
    if isinstance(policy, (str, Path)):
        fn = load_sb3_policy(policy, deterministic=deterministic)
        return fn, fn.description  # type: ignore[attr-defined]
    if callable(policy):
        return policy, getattr(policy, "description", getattr(policy, "__name__", "callable"))
    raise ValueError(
        f"policy must be None/'random', a path to an SB3 .zip, or a callable, got {policy!r}"
    )
