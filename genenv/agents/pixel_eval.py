"""Transfer tests of agents that act on a pixel world's latents: in the real env, through the same
encoder, on real frames of the task's pixel camera (the last two frames, as in training)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genenv.worlds.spec import WorldSpec


def evaluate_pixel_policy(
    model: Any,
    agent: Any,
    episodes: int = 5,
    seed: int = 0,
    spec: WorldSpec | None = None,
    max_steps: int | None = None,
) -> list[float]:
    """Real returns of `agent` (SB3-style `predict` on latents z) over `episodes` real episodes
    (reset seeds seed, seed+1, ...), each step encoding [previous, current] real frames."""
    from genenv.worlds.cameras import make_pixel_env

    env = make_pixel_env(spec or WorldSpec(model.task), model.config.image_size)
    returns = []
    try:
        for ep in range(episodes):
            env.reset(seed=seed + ep)
            prev = cur = env.render().copy()
            total, done, t = 0.0, False, 0
            while not done and (max_steps is None or t < max_steps):
                stack = torch.as_tensor(np.stack([prev, cur])[None], device=model.device)
                z = model.encode(stack)[0].cpu().numpy()  # (D,)
                action, _ = agent.predict(z, deterministic=True)
                _, r, term, trunc, _ = env.step(np.asarray(action, np.float32))
                total, done, t = total + float(r), term or trunc, t + 1
                prev, cur = cur, env.render().copy()
            returns.append(total)
    finally:
        env.close()
    return returns
