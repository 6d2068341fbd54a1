"""Agent recipes: YAML files under `agents/` that say which algorithm trains, and how, in a dream.

A recipe is data, not code. `load_recipe(path, task)` deep-merges the recipe's per-task override
(`tasks: {TASK: {...}}`) over its top level and validates the result into a `Recipe`.
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


def load_recipe(path: str | Path, task: str) -> Recipe:
    """Read a recipe YAML and resolve it for `task`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} not found (recipes ship in the agents/ folder)")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path} must be a YAML mapping")
    task = get_task(task).name
    overrides = raw.pop("tasks", {}) or {}
    unknown_tasks = sorted(set(overrides) - {t for t in overrides if _is_task(t)})
    if unknown_tasks:
        raise ValueError(f"recipe {path}: unknown task(s) in 'tasks': {unknown_tasks}")
    resolved = deep_merge(raw, overrides.get(task, {}))
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
    recipe = Recipe(source=str(path), **resolved)
    for name in ("n_envs", "total_timesteps"):
        if not isinstance(getattr(recipe, name), int) or getattr(recipe, name) < 1:
            raise ValueError(f"recipe {path}: {name} must be a positive integer")
    return recipe


def _is_task(name: str) -> bool:
    try:
        get_task(name)
    except ValueError:
        return False
    return True
