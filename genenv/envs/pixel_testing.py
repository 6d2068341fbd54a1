"""An untrained latent pixel world for tests and throughput (a real, valid model that knows
nothing), its start banks filled with the encodings of real first frames."""

from __future__ import annotations

import numpy as np
import torch

from genenv.models.latent import LatentConfig, LatentWorldModel
from genenv.worlds.cameras import make_pixel_env
from genenv.worlds.spec import CONTEXT_FIELDS


def random_latent_model(
    task: str,
    config: LatentConfig | None = None,
    num_starts: int = 4,
    seed: int = 0,
    terminate: bool | None = False,
) -> LatentWorldModel:
    """`terminate`: False (default) / True biases the termination head to never / always fire;
    None leaves it as initialised."""
    config = config or LatentConfig(image_size=16, latent_dim=8, channels=8, hidden_size=32)
    env = make_pixel_env(task, config.image_size)
    try:
        frames = []
        for i in range(num_starts):
            env.reset(seed=seed + i)
            frames.append(env.render())
        space = env.action_space
    finally:
        env.close()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LatentWorldModel(
            task, space.shape[0], len(CONTEXT_FIELDS), config, space.low.tolist(),
            space.high.tolist(),
        ).eval()  # fmt: skip
    z = model.encode(torch.as_tensor(np.stack(frames)))
    model.start_obs, model.real_obs = z, z.clone()
    if terminate is not None:
        with torch.no_grad():
            model.termination_head[-1].bias.fill_(1e4 if terminate else -1e4)
    return model
