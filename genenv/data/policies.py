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

__all__ = [
    "RANDOM_POLICIES",
    "Policy",
    "RandomHolds",
    "UniformRandom",
    "load_sb3_policy",
    "resolve_policy",
    "sb3_algorithm_name",
]


def load_sb3_policy(path: str | Path, deterministic: bool = False, device: str = "cpu") -> Policy:
    """A policy callable from an SB3 model zip (stochastic actions unless `deterministic`)."""
    model = load_sb3_model(path, device=device)

    def act(obs: np.ndarray) -> np.ndarray:
        action, _ = model.predict(obs, deterministic=deterministic)
        return np.asarray(action)

    name = type(model).__name__
    act.description = f"sb3:{name}:{Path(path).name}"  # type: ignore[attr-defined]
    return act


class UniformRandom:
    """Uniform random actions in the action box."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        return self.rng.uniform(low, high)


class RandomHolds:
    """Uniform random actions in stretches of `lo`-`hi` steps, alternating with stretches of the
    zero action (the episode starts with a random stretch of random length).

    Uniform random actions never hold still, so a world learned from them has never seen a body
    coming to rest and predicts drift from rest; goal planning needs to stop at the goal."""

    def __init__(self, rng: np.random.Generator, lo: int = 5, hi: int = 20):
        self.rng, self.lo, self.hi = rng, lo, hi
        self.zero, self.left = True, 0

    def __call__(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        if self.left == 0:
            self.zero, self.left = not self.zero, int(self.rng.integers(self.lo, self.hi + 1))
        self.left -= 1
        return np.zeros_like(low) if self.zero else self.rng.uniform(low, high)


# The random policies by name: collect builds one per episode on that episode's action rng, so an
# episode's actions are a pure function of (seed, episode index) and a collection resumes exactly.
RANDOM_POLICIES = {"random": UniformRandom, "random-holds": RandomHolds}


def resolve_policy(policy: Any, deterministic: bool = False) -> tuple[Policy | None, str]:
    """(callable, or None for the random policies drawn by collect itself, a description for the
    metadata)."""
    if policy is None:
        return None, "random"
    if isinstance(policy, str) and policy in RANDOM_POLICIES:
        return None, policy
    if isinstance(policy, (str, Path)):
        fn = load_sb3_policy(policy, deterministic=deterministic)
        return fn, fn.description  # type: ignore[attr-defined]
    if callable(policy):
        return policy, getattr(policy, "description", getattr(policy, "__name__", "callable"))
    raise ValueError(
        f"policy must be None, {' / '.join(RANDOM_POLICIES)}, a path to an SB3 .zip, or a "
        f"callable, got {policy!r}"
    )
