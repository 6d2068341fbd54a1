"""Policies for data collection: random actions, any callable, or a stable-baselines3 .zip.

SB3 zips are loaded by `genenv.data.sb3_zip.load_sb3_model`, the one SB3-zip loader of genenv:
nothing pickled in the file is ever executed, and a zip that needs its own code is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from genenv.data.sb3_zip import algorithm_name as sb3_algorithm_name
from genenv.data.sb3_zip import load_sb3_model

Policy = Callable[[np.ndarray], np.ndarray]  # observation (obs_dim,) -> action (act_dim,)

__all__ = ["Policy", "load_sb3_policy", "resolve_policy", "sb3_algorithm_name"]


def load_sb3_policy(path: str | Path, deterministic: bool = False, device: str = "cpu") -> Policy:
    """A policy callable from an SB3 model zip (stochastic actions unless `deterministic`)."""
    model = load_sb3_model(path, device=device)

    def act(obs: np.ndarray) -> np.ndarray:
        action, _ = model.predict(obs, deterministic=deterministic)
        return np.asarray(action)

    name = type(model).__name__
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
