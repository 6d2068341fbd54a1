"""Agents that act on a pixel world's latents, run in the real env: through the same encoder, on
real frames of the task's pixel camera (the last two frames, as in training)."""

from __future__ import annotations

from typing import Any

from genenv.transfer import LatentAgentPolicy, run_real_episodes
from genenv.worlds.spec import WorldSpec

__all__ = ["LatentAgentPolicy", "evaluate_pixel_policy"]


def evaluate_pixel_policy(
    model: Any,
    agent: Any,
    episodes: int = 5,
    seed: int = 0,
    spec: WorldSpec | None = None,
    max_steps: int | None = None,
) -> list[float]:
    """Real returns of `agent` (deterministic) over `episodes` real episodes (reset seeds seed,
    seed+1, ...; see `genenv.transfer.run_real_episodes`)."""
    spec = spec or WorldSpec(model.task)
    return run_real_episodes(agent, spec, episodes, seed, True, max_steps, pixel_world=model)[0]
