"""Videos of pixel worlds: the decoder's frames, from an image prompt or side by side with real.

- `record_pixel_dream`: `policy` plays in the dream from a start frame (an image prompt) or an
  encoded real start; the video is the model's own decoded frames (the prompt image first).
- `pixel_side_by_side_frames`: the real env (frames of the task's pixel camera) and the dream
  from the same real start (its encoded first frame), `policy` closed loop in both: real | dream.
A policy sees what its observation space asks for: latents z (a policy trained in the pixel
dream; in the real env, the encoding of the last two real frames) or, for a state policy, the
real state and, in the dream, the model's linear-probe estimate of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from genenv.recording.frames import hstack, label
from genenv.recording.rollout import make_policy


def _upscale(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[1] == size:
        return frames
    return np.stack(
        [np.asarray(Image.fromarray(f).resize((size, size), Image.NEAREST)) for f in frames]
    )


def _reads_latents(model, policy: Any) -> bool:
    """Whether `policy` was trained in the pixel dream (it observes latents z)."""
    space = getattr(policy, "observation_space", None)
    return space is not None and space.shape == (model.obs_dim,)


def _dream_input(model, policy: Any):
    """obs-function for the dream: z itself, or the probe's state estimate for a state policy."""
    if _reads_latents(model, policy):
        return lambda z: z
    return lambda z: model.probe_state(z)


def dream_frames(model, policy: Any, steps: int, z0: torch.Tensor, spec=None, seed: int = 0):
    """(T+1, S, S, 3) decoded frames and (T,) rewards of `policy` in the dream from z0 (D,)."""
    from genenv.envs._world import task_spaces
    from genenv.worlds.spec import WorldSpec

    _, act_space = task_spaces(model.task)
    act = make_policy(policy, act_space, seed)
    to_obs = _dream_input(model, policy)
    ctx = torch.tensor([(spec or WorldSpec(model.task)).context.as_tuple()], dtype=torch.float32)
    z, frames, rewards = z0[None].to(model.device), [model.render(z0[None])[0]], []
    for _ in range(steps):
        a = torch.as_tensor(act(to_obs(z)[0].cpu().numpy()))[None]
        out = model.step(z, a, ctx.to(model.device))
        z = out.obs
        frames.append(model.render(z)[0])
        rewards.append(float(out.reward[0]))
        if bool(out.terminated[0]):
            break
    return torch.stack(frames).cpu().numpy(), np.asarray(rewards)


def pixel_side_by_side_frames(model, spec, policy: Any, steps: int, size: int = 128, seed=0):
    """(T+1, size, 2*size, 3) real | dream frames from the same real start, closed loop."""
    from genenv.worlds.cameras import make_pixel_env

    env = make_pixel_env(spec, model.config.image_size)
    try:
        obs, _ = env.reset(seed=seed)
        real = [env.render()]
        if _reads_latents(model, policy):  # the agent sees the encoded real frames
            from genenv.transfer import LatentAgentPolicy

            latent_policy = LatentAgentPolicy(model, policy)
            act = lambda obs: latent_policy(obs, real[-2:])  # noqa: E731
        else:
            act = make_policy(policy, env.action_space, seed)
        for _ in range(steps):
            obs, _, term, trunc, _ = env.step(act(obs))
            real.append(env.render())
            if term or trunc:
                break
    finally:
        env.close()
    z0 = model.encode(torch.as_tensor(np.array(real[0][None])))[0]
    dream, _ = dream_frames(model, policy, len(real) - 1, z0, spec, seed)
    n = min(len(real), len(dream))
    left = label(_upscale(np.stack(real[:n]), size), "real")
    right = label(_upscale(dream[:n], size), "generated")
    return hstack(left, right)


def record_pixel_dream(model, frame: np.ndarray | None, policy: Any, steps: int, size: int = 128):
    """(T+1, size, size, 3) labelled decoded frames of `policy` from `frame` (an image prompt,
    shown first) or, without one, from an encoded real start."""
    if frame is None:
        z0 = model.initial(1, torch.Generator(device=model.device).manual_seed(0))[0]
        frames, _ = dream_frames(model, policy, steps, z0)
    else:
        z0 = model.encode(torch.as_tensor(np.array(frame[None]), device=model.device))[0]
        frames, _ = dream_frames(model, policy, steps, z0)
        frames = np.concatenate([frame[None], frames[1:]])  # the prompt itself, then the dream
    return label(_upscale(frames, size), "generated")
