"""Agent recipes: YAML files under `agents/` that say which algorithm trains, and how, in a dream.

A recipe is data, not code. `load_recipe(path, task, world_kind)` deep-merges, in this order, the
recipe's top level, its override for the world-model kind (`world_kinds: {KIND: {...}}`), the
per-task override (`tasks: {TASK: {...}}`) and that task's own `world_kinds` override, and
validates the result into a `Recipe`. A kind override holds what a kind of world needs that the
others do not (a pixel world's dream is less faithful than a state world's, so its agent leans
more on real transitions).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genenv.worlds.tasks import get_task

RECIPE_KEYS = {"algo", "policy", "n_envs", "total_timesteps", "hyperparams", "policy_kwargs", "env"}
ENV_KEYS = {
    "max_episode_steps",
    "start",
    "uncertainty_penalty",
    "uncertainty_threshold",
    "known_reward_termination",
}
ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "silu": "SiLU", "gelu": "GELU"}


@dataclass
class Recipe:
    """One algorithm's settings for one task (after per-task overrides)."""

    algo: str  # key of genenv.agents.sb3.ALGOS, e.g. "PPO", "SAC", "OnDevicePPO"
    policy: str = "MlpPolicy"
    n_envs: int = 256  # imagined envs stepped in one batch
    total_timesteps: int = 100_000  # imagined steps per loop iteration
    hyperparams: dict[str, Any] = field(default_factory=dict)  # algorithm constructor kwargs
    policy_kwargs: dict[str, Any] = field(default_factory=dict)  # net_arch, activation_fn (name)
    env: dict[str, Any] = field(default_factory=dict)  # DreamVectorEnv options (ENV_KEYS)
    source: str = ""  # where the recipe came from

    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(getattr(self, k)) for k in (*sorted(RECIPE_KEYS), "source")}

    def sb3_policy_kwargs(self) -> dict[str, Any]:
        """policy_kwargs with the activation name turned into the torch.nn class SB3 expects."""
        from torch import nn

        kwargs = dict(self.policy_kwargs)
        act = kwargs.get("activation_fn")
        if isinstance(act, str):
            if act.lower() not in ACTIVATIONS:
                raise ValueError(
                    f"unknown activation_fn {act!r}; choose from {sorted(ACTIVATIONS)}"
                )
            kwargs["activation_fn"] = getattr(nn, ACTIVATIONS[act.lower()])
        return kwargs


def deep_merge(base: dict, override: dict) -> dict:
    """`override` merged into a deep copy of `base`, recursing into nested dicts."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_recipe(path: str | Path, task: str, world_kind: str = "ensemble") -> Recipe:
    """Read a recipe YAML and resolve it for `task` in a world of kind `world_kind`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} not found (recipes ship in the agents/ folder)")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping")
    task = get_task(task).name
    from genenv.models.kinds import get_kind

    get_kind(world_kind)
    overrides = raw.pop("tasks", {}) or {}
    unknown_tasks = sorted(set(overrides) - {t for t in overrides if _is_task(t)})
    if unknown_tasks:
        raise ValueError(f"recipe {path}: unknown task(s) in 'tasks': {unknown_tasks}")
    resolved = _for_kind(path, raw, world_kind, "the top level")
    task_override = overrides.get(task) or {}
    if not isinstance(task_override, dict):
        raise ValueError(f"recipe {path}: tasks.{task} must be a mapping")
    resolved = deep_merge(resolved, _for_kind(path, task_override, world_kind, f"tasks.{task}"))
    unknown = sorted(set(resolved) - RECIPE_KEYS)
    if unknown:
        raise ValueError(f"recipe {path}: unknown key(s) {unknown}; valid: {sorted(RECIPE_KEYS)}")
    if "algo" not in resolved:
        raise ValueError(f"recipe {path} needs an 'algo' key")
    bad_env = sorted(set(resolved.get("env", {}) or {}) - ENV_KEYS)
    if bad_env:
        raise ValueError(
            f"recipe {path}: unknown env option(s) {bad_env}; valid: {sorted(ENV_KEYS)}"
        )
    from genenv.agents.sb3 import ALGOS

    if resolved["algo"] not in ALGOS:
        raise ValueError(
            f"recipe {path}: unknown algo {resolved['algo']!r}; valid: {sorted(ALGOS)}"
        )
    for key in ("hyperparams", "policy_kwargs", "env"):
        if not isinstance(resolved.get(key) or {}, dict):
            raise ValueError(f"recipe {path}: {key!r} must be a mapping")
    recipe = Recipe(source=str(path), **resolved)
    for name in ("n_envs", "total_timesteps"):
        value = getattr(recipe, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"recipe {path}: {name} must be a positive integer, got {value!r}")
    try:
        check_recipe_values(recipe)
    except ValueError as err:
        raise ValueError(f"recipe {path}: {err}") from None
    return recipe


def _for_kind(path: Path, section: dict, world_kind: str, where: str) -> dict:
    """`section` with its `world_kinds` override for `world_kind` merged in (and removed)."""
    from genenv.models.kinds import KINDS

    section = dict(section)
    by_kind = section.pop("world_kinds", None) or {}
    if (
        not isinstance(by_kind, dict)
        or sorted(set(by_kind) - set(KINDS))
        or not all(isinstance(v or {}, dict) for v in by_kind.values())
    ):
        raise ValueError(
            f"recipe {path}: world_kinds in {where} must map world-model kinds "
            f"{sorted(KINDS)} to overrides, got {by_kind!r}"
        )
    return deep_merge(section, by_kind.get(world_kind) or {})


# Hyper-parameters that count something (>= 1) and ones that are probabilities/discounts.
_COUNT_KEYS = {"n_steps", "batch_size", "n_epochs", "buffer_size", "gradient_steps", "minibatches"}
_UNIT_KEYS = {"gamma", "gae_lambda", "tau"}


def check_recipe_values(recipe: Recipe) -> None:
    """Values a recipe's algorithm would choke on later, found now: unknown or non-finite
    hyper-parameters, bad counts, a bad net_arch, bad dream-env options."""
    import inspect
    import math

    from genenv.agents.sb3 import ALGOS, algo_class

    cls = algo_class(recipe.algo)
    if ALGOS[recipe.algo][2] == "sb3":
        valid = set(inspect.signature(cls.__init__).parameters) - {"self", "policy", "env"}
        valid -= {"seed", "verbose", "device", "tensorboard_log", "policy_kwargs"}  # genenv's
        unknown = sorted(set(recipe.hyperparams) - valid)
        if unknown:
            raise ValueError(
                f"unknown {recipe.algo} hyperparameter(s) {unknown}; valid: {sorted(valid)}"
            )
    for key, value in recipe.hyperparams.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            raise ValueError(f"hyperparams.{key} must be finite, got {value!r}")
        if key in _COUNT_KEYS and (value < 1 or value != int(value)):
            raise ValueError(f"hyperparams.{key} must be a positive integer, got {value!r}")
        if key in _UNIT_KEYS and not 0 <= value <= 1:
            raise ValueError(f"hyperparams.{key} must be in [0, 1], got {value!r}")
        if key == "learning_rate" and value <= 0:
            raise ValueError(f"hyperparams.learning_rate must be > 0, got {value!r}")
    _check_net_arch(recipe.policy_kwargs.get("net_arch"))
    recipe.sb3_policy_kwargs()  # an unknown activation_fn fails here
    for key in ("uncertainty_penalty", "uncertainty_threshold"):
        value = recipe.env.get(key)
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise ValueError(f"env.{key} must be a finite number >= 0, got {value!r}")
    steps = recipe.env.get("max_episode_steps")
    if steps is not None and (
        isinstance(steps, bool) or not isinstance(steps, int) or (steps < 1 and steps != -1)
    ):
        raise ValueError(f"env.max_episode_steps must be >= 1 (or -1: never), got {steps!r}")


def _check_net_arch(arch: Any) -> None:
    if arch is None:
        return
    layers = arch.values() if isinstance(arch, dict) else [arch]
    for sizes in layers:
        ok = isinstance(sizes, list) and all(
            isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 65536 for n in sizes
        )
        if not ok:
            raise ValueError(
                "policy_kwargs.net_arch must be a list of layer widths in [1, 65536] "
                f"(or a mapping of such lists, e.g. pi/vf), got {arch!r}"
            )


def _is_task(name: str) -> bool:
    try:
        get_task(name)
    except ValueError:
        return False
    return True
