"""`DreamEnv`: one imagined episode at a time, a plain `gymnasium.Env` over a world model.

It is a batch of one `DreamVectorEnv`. Like gymnasium's own MuJoCo envs it has no time limit of
its own by default: `gymnasium.make("genenv/Dream-<Task>-v0", world=...)` adds the registered
`TimeLimit` (the task's stock episode length); pass `max_episode_steps=` when building it directly.
Observations are fresh float32 numpy arrays; the model's disagreement is in `info["uncertainty"]`.
With `render_mode="rgb_array"`, `render()` draws the imagined pose in the real MuJoCo scene (the
observation turned back into a pose by `genenv.recording`; the root integrated from its velocity).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from genenv.envs import _world
from genenv.envs.vector import DreamVectorEnv
from genenv.worlds.spec import WorldSpec


class OneEpisodeEnv(gym.Env):
    """What `DreamEnv` and the pixel `PixelDreamEnv` share: a batch of one of `vector_class`
    (options checked, no time limit of its own unless `max_episode_steps`) and the action check."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"]}
    vector_class: type[DreamVectorEnv] = DreamVectorEnv

    def _build_vector(
        self,
        task: str,
        world: Any,
        device: str | torch.device | None,
        spec: WorldSpec | None,
        max_episode_steps: int | None,
        render_mode: str | None,
        config: dict[str, Any],
    ) -> None:
        """Set `vector` (a batch of one built from `config`), `render_mode` and the spaces."""
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        for key in ("num_envs", "autoreset_mode", "specs"):
            if key in config:
                raise ValueError(
                    f"{type(self).__name__} does not take {key!r}; use "
                    f"{self.vector_class.__name__} for batches"
                )
        self.vector = self.vector_class(
            task,
            world,
            num_envs=1,
            device=device,
            specs=spec,
            max_episode_steps=-1 if max_episode_steps is None else max_episode_steps,
            **config,
        )
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": round(1.0 / _world.task_dt(task))}
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space

    def _check_action(self, action: Any) -> torch.Tensor:
        """(1, act_dim) from one action of the right shape, finite (else ValueError)."""
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action must have shape {self.action_space.shape}, got {action.shape}"
            )
        if not np.isfinite(action).all():
            raise ValueError(f"non-finite (NaN/inf) action {action.tolist()}")
        return torch.as_tensor(action)[None]


class DreamEnv(OneEpisodeEnv):
    """A single imagined world of `task` (see `DreamVectorEnv` for `world`, `device`, options).

    Args:
        spec: the WorldSpec (physics context, optional initial pose); default the stock one.
        max_episode_steps: None (default): no limit of its own; an int: truncate after it.
        render_mode: None or "rgb_array" (frames of `width` x `height`).
    """

    def __init__(
        self,
        task: str,
        world: Any,
        device: str | torch.device | None = None,
        spec: WorldSpec | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        **config: Any,
    ):
        self._build_vector(task, world, device, spec, max_episode_steps, render_mode, config)
        self._size = (width, height)
        self._renderer = None  # genenv.worlds.PoseRenderer, built on the first render()
        self._last_obs: np.ndarray | None = None
        self._root: np.ndarray | None = None

    @property
    def world_spec(self) -> WorldSpec:
        return self.vector.specs[0]

    def set_spec(self, spec: WorldSpec) -> None:
        """Use `spec` from the next reset on."""
        self.vector.set_spec(0, spec)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs = self.vector.reset_tensor(seed=seed)[0].cpu().numpy().copy()
        self._last_obs, self._root = obs.copy(), None
        return obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, infos = self.vector.step_tensor(
            self._check_action(action)
        )
        packed = torch.cat(
            [
                obs[0],
                torch.stack([reward[0], terminated[0], truncated[0]]).float(),
                torch.stack([infos["uncertainty"][0], infos["model_nonfinite"][0]]).float(),
            ]
        ).cpu()  # one transfer
        values = packed.numpy()
        n = obs.shape[1]
        info = {"uncertainty": float(values[n + 3]), "model_nonfinite": bool(values[n + 4])}
        if self._renderer is not None and self._root is not None:
            decoder = self._renderer.decoder
            self._root = self._root + self._renderer.dt * decoder.root_velocity(values[:n])
        self._last_obs = values[:n].copy()
        return (
            values[:n].copy(),
            float(values[n]),
            bool(values[n + 1]),
            bool(values[n + 2]),
            info,
        )

    def render(self) -> np.ndarray | None:
        """(height, width, 3) uint8 frame of the current imagined pose (rgb_array mode)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._last_obs is None:
            raise RuntimeError("call reset() before render()")
        if self._renderer is not None and self._renderer.spec != self.world_spec:
            self._close_renderer()  # the world changed (set_spec): its scene may differ
        if self._renderer is None:
            from genenv.worlds.drawing import PoseRenderer

            self._renderer = PoseRenderer(self.world_spec, *self._size)
        if self._root is None:
            self._root = np.zeros(self._renderer.decoder.num_root)
        return self._renderer.render_obs(self._last_obs, self._root)

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            from genenv.worlds.drawing import close_env

            close_env(self._renderer.env)
            self._renderer = None

    def close(self) -> None:
        self._close_renderer()
        self.vector.close()
