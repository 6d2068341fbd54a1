"""Untrained world models for tests and throughput benchmarks.

A randomly initialised `EnsembleWorldModel` is a real, valid world model (it just knows nothing);
its start banks are filled with real observations so imagined episodes start where real ones do.
"""

from __future__ import annotations

import numpy as np
import torch

from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.worlds.spec import CONTEXT_FIELDS, WorldSpec


def random_world_model(
    task: str,
    config: EnsembleConfig | None = None,
    num_starts: int = 8,
    seed: int = 0,
    terminate: bool | None = None,
) -> EnsembleWorldModel:
    """An untrained ensemble for `task` with `num_starts` real reset observations as its starts.

    `terminate`: None leaves the termination head as initialised; False / True biases it so the
    model never / always predicts termination (for tests that need a known episode structure).
    """
    env = WorldSpec(task).make_env()
    try:
        starts = np.stack([env.reset(seed=seed + i)[0] for i in range(num_starts)])
        obs_dim = env.observation_space.shape[0]
        space = env.action_space
    finally:
        env.close()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = EnsembleWorldModel(
            task,
            obs_dim,
            space.shape[0],
            len(CONTEXT_FIELDS),
            config,
            action_low=space.low.tolist(),
            action_high=space.high.tolist(),
        )
    starts_t = torch.as_tensor(starts, dtype=torch.float32)  # (num_starts, obs_dim)
    model.start_obs = starts_t
    model.real_obs = starts_t.clone()
    if terminate is not None:
        with torch.no_grad():
            model.head.bias[..., -1] = 1e4 if terminate else -1e4
    return model.eval()
