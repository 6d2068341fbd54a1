"""Registers `genenv/Dream-<Task>-v0` for every task, with entry and vector entry points."""

from __future__ import annotations

import gymnasium

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
            kwargs={"task": task.name},
        )
