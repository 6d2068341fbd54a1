"""Pixel dream envs: `genenv/Dream-<Task>-Pixels-v0` over a latent pixel world model.

The imagined state is the latent z of a `LatentWorldModel`; everything else (autoreset modes,
seeding, per-slot specs, NaN guards, the SB3 adapter, time limits) is `DreamVectorEnv`'s own
machinery. What differs is the observation:
- `obs_type="latent"` (default, fast): z itself, a float32 vector of `latent_dim`;
- `obs_type="pixels"`: the decoded frame, (size, size, 3) uint8, drawn by the model's decoder.
Episodes start from encoded real episode starts, from `start_frames` (frames of the task's camera,
encoded: how an image prompt becomes the first frame), or, for a WorldSpec with an
`initial_state`, from that pose rendered through the task's camera and encoded.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from genenv.envs import _world
from genenv.envs.single import OneEpisodeEnv
from genenv.envs.vector import DreamVectorEnv
from genenv.models.latent import LatentWorldModel
from genenv.worlds.spec import WorldSpec

OBS_TYPES = ("latent", "pixels")


@functools.lru_cache(maxsize=64)
def _pose_frame(spec: WorldSpec, size: int) -> np.ndarray:
    """(size, size, 3) frame of `spec.initial_state` through the task's camera."""
    from genenv.worlds.cameras import make_pixel_env
    from genenv.worlds.real import set_pose

    env = make_pixel_env(spec, size)
    try:
        env.reset(seed=spec.seed)
        set_pose(env.unwrapped, spec.initial_state)
        return env.render().copy()
    finally:
        env.close()


class PixelDreamVectorEnv(DreamVectorEnv):
    """`num_envs` imagined episodes in a latent pixel world (see `DreamVectorEnv` for the rest).

    Args:
        obs_type: "latent" (z) or "pixels" (decoded uint8 frames).
        start_frames: optional (k, size, size, 3) uint8 frames; every episode starts from one of
            them (drawn per reset), encoded as a pose at rest.
    """

    def __init__(
        self,
        task: str,
        world: Any,
        num_envs: int = 1,
        device: str | torch.device | None = None,
        specs: WorldSpec | Sequence[WorldSpec] | None = None,
        render_mode: str | None = None,
        obs_type: str = "latent",
        start_frames: Any = None,
        **config: Any,
    ):
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
        if config.get("known_reward_termination"):
            raise ValueError("known_reward_termination needs states; a pixel world has latents")
        self.obs_type = obs_type
        super().__init__(task, world, num_envs, device, specs, render_mode, **config)
        self._start_z = None
        if start_frames is not None:
            frames = torch.as_tensor(np.array(start_frames, dtype=np.uint8), device=self.device)
            self._start_z = self.model.encode(frames.reshape(-1, *frames.shape[-3:]))  # (k, D)

    # -- hooks of DreamVectorEnv ----------------------------------------------------------------
    def _load_model(self, world: Any) -> LatentWorldModel:
        if isinstance(world, (str, Path)):
            from genenv.models.checkpoint import load_checkpoint

            world = load_checkpoint(world, device=str(self.device), expect_task=self.task)
        if not isinstance(world, LatentWorldModel):
            raise ValueError(
                f"{type(world).__name__} is a state world model; pixel dream envs need a latent "
                f"one (genenv train-world --kind latent); use genenv/Dream-{self.task}-v0 for it"
            )
        act_dim = self.single_action_space.shape[0]
        model = _world.load_world(world, self.task, self.device, world.obs_dim, act_dim, True)
        d, s = model.obs_dim, model.config.image_size
        if self.obs_type == "latent":
            self.single_observation_space = spaces.Box(-np.inf, np.inf, (d,), np.float32)
        else:
            self.single_observation_space = spaces.Box(0, 255, (s, s, 3), np.uint8)
        return model

    def _spec_tensors(self, specs: Sequence[WorldSpec]):
        d, dev = self.model.obs_dim, self.device
        ctx = torch.tensor([s.context.as_tuple() for s in specs], dtype=torch.float32, device=dev)
        starts = torch.zeros(len(specs), d, device=dev)
        has = torch.zeros(len(specs), dtype=torch.bool, device=dev)
        for i, spec in enumerate(specs):
            if spec.initial_state is not None:
                frame = _pose_frame(spec, self.model.config.image_size)
                starts[i] = self.model.encode(torch.as_tensor(frame[None], device=dev))[0]
                has[i] = True
        return ctx, starts, has

    def _initial(self, mask: torch.Tensor) -> torch.Tensor:
        if self._start_z is None:
            return super()._initial(mask)
        pick = torch.randint(len(self._start_z), (self.num_envs,), generator=self._generator,
                             device=self.device)  # fmt: skip
        has = self._next_has_start & mask
        return torch.where(has[:, None], self._next_starts, self._start_z[pick])

    # -- observations ---------------------------------------------------------------------------
    def observe(self, z: torch.Tensor) -> torch.Tensor:
        """The observation of latents z (n, D): z itself, or the decoded (n, S, S, 3) frames."""
        return z if self.obs_type == "latent" else self.model.render(z)

    @property
    def latents(self) -> torch.Tensor:
        """(n, D) the imagined state of every slot now."""
        return self._obs

    @torch.no_grad()
    def reset_tensor(self, seed: int | None = None, options: dict | None = None) -> torch.Tensor:
        return self.observe(super().reset_tensor(seed=seed, options=options))

    @torch.no_grad()
    def step_tensor(self, actions: torch.Tensor):
        obs, reward, terminated, truncated, infos = super().step_tensor(actions)
        if self.obs_type == "pixels" and "final_obs" in infos:
            final = infos["final_obs"]
            infos["final_obs"] = self.observe(final) if bool(infos["_final_obs"].any()) else (
                torch.zeros((self.num_envs, *self.single_observation_space.shape),
                            dtype=torch.uint8, device=self.device)
            )  # fmt: skip
        return self.observe(obs), reward, terminated, truncated, infos


class PixelDreamEnv(OneEpisodeEnv):
    """One imagined episode at a time in a latent pixel world (a batch of one
    `PixelDreamVectorEnv`). `render()` (rgb_array) returns the decoded frame of the state."""

    vector_class = PixelDreamVectorEnv

    def __init__(
        self,
        task: str,
        world: Any,
        device: str | torch.device | None = None,
        spec: WorldSpec | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        obs_type: str = "latent",
        start_frames: Any = None,
        **config: Any,
    ):
        config = {**config, "obs_type": obs_type, "start_frames": start_frames}
        self._build_vector(task, world, device, spec, max_episode_steps, render_mode, config)

    @property
    def model(self) -> LatentWorldModel:
        return self.vector.model

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return self.vector.reset_tensor(seed=seed)[0].cpu().numpy().copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, infos = self.vector.step_tensor(
            self._check_action(action)
        )
        info = {
            "uncertainty": float(infos["uncertainty"][0]),
            "model_nonfinite": bool(infos["model_nonfinite"][0]),
        }
        obs_np = obs[0].cpu().numpy().copy()
        return obs_np, float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        """(size, size, 3) uint8 decoded frame of the current imagined state."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        return self.model.render(self.vector.latents)[0].cpu().numpy()

    def close(self) -> None:
        self.vector.close()
