"""Registers `genenv/Dream-<Task>-v0` for every task, with entry and vector entry points.

`gymnasium.make(id, world=CKPT)` builds a `DreamEnv` wrapped in the registered `TimeLimit` (the
task's stock episode length; `DreamEnv` itself has no limit, so there is exactly one).
`gymnasium.make_vec(id, num_envs=N, world=CKPT, device=...)` builds a `DreamVectorEnv`, which gets
the same `max_episode_steps` from the spec and truncates internally.
`genenv/Dream-<Task>-Pixels-v0` (tasks with a pixel camera) does the same over a latent pixel
world model (`genenv.envs.pixels`; kwarg `obs_type="latent"` or `"pixels"`).
"""

from __future__ import annotations

import gymnasium

from genenv.worlds.cameras import PIXEL_CAMERAS
from genenv.worlds.tasks import TASKS


def register_envs() -> None:
    for task in TASKS.values():
        env_id = f"genenv/Dream-{task.name}-v0"
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            env_id,
            entry_point="genenv.envs.single:DreamEnv",
            vector_entry_point="genenv.envs.vector:DreamVectorEnv",
            max_episode_steps=task.max_episode_steps,
            kwargs={"task": task.name},
        )
    for name in PIXEL_CAMERAS:  # pixel worlds: a latent model of the task's camera frames
        env_id = f"genenv/Dream-{name}-Pixels-v0"
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            env_id,
            entry_point="genenv.envs.pixels:PixelDreamEnv",
            vector_entry_point="genenv.envs.pixels:PixelDreamVectorEnv",
            max_episode_steps=TASKS[name].max_episode_steps,
            kwargs={"task": name},
        )
