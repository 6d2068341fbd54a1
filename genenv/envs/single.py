"""`DreamEnv`: one imagined episode at a time, a plain `gymnasium.Env` over a world model.

It is a batch of one `DreamVectorEnv`. Like gymnasium's own MuJoCo envs it has no time limit of
its own by default: `gymnasium.make("genenv/Dream-<Task>-v0", world=...)` adds the registered
`TimeLimit` (the task's stock episode length); pass `max_episode_steps=` when building it directly.
Observations are fresh float32 numpy arrays; the model's disagreement is in `info["uncertainty"]`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from genenv.envs.vector import DreamVectorEnv
from genenv.worlds.spec import WorldSpec


class DreamEnv(gym.Env):
    """A single imagined world of `task` (see `DreamVectorEnv` for `world`, `device`, options).

    Args:
        spec: the WorldSpec (physics context, optional initial pose); default the stock one.
        max_episode_steps: None (default): no limit of its own; an int: truncate after it.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        task: str,
        world: Any,
        device: str | torch.device | None = None,
        spec: WorldSpec | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **config: Any,
    ):
        for key in ("num_envs", "autoreset_mode", "specs"):
            if key in config:
                raise ValueError(f"DreamEnv does not take {key!r}; use DreamVectorEnv for batches")
        self.vector = DreamVectorEnv(
            task,
            world,
            num_envs=1,
            device=device,
            specs=spec,
            render_mode=render_mode,
            max_episode_steps=-1 if max_episode_steps is None else max_episode_steps,
            **config,
        )
        self.render_mode = render_mode
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space

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
        obs = self.vector.reset_tensor(seed=seed)
        return obs[0].cpu().numpy().copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action must have shape {self.action_space.shape}, got {action.shape}"
            )
        if not np.isfinite(action).all():
            raise ValueError(f"non-finite (NaN/inf) action {action.tolist()}")
        obs, reward, terminated, truncated, infos = self.vector.step_tensor(
            torch.as_tensor(action)[None]
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
        return (
            values[:n].copy(),
            float(values[n]),
            bool(values[n + 1]),
            bool(values[n + 2]),
            info,
        )

    def close(self) -> None:
        self.vector.close()
