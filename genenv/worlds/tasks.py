"""The task registry: which gymnasium MuJoCo v5 tasks genenv knows, and how to build each one.

A task is a family of worlds; a `WorldSpec` picks one member by its physics context.
The registry is explicit: add a task by adding a `TaskInfo` to `TASKS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class TaskInfo:
    """Static facts about one task family."""

    name: str  # genenv's name, e.g. "HalfCheetah"
    gym_id: str  # gymnasium id of the stock real env, e.g. "HalfCheetah-v5"
    max_episode_steps: int  # the stock TimeLimit
    make_kwargs: dict[str, Any] = field(default_factory=dict)  # extra kwargs to gymnasium.make
    # Observation layout, used to turn an observation back into a MuJoCo pose for rendering:
    # "qpos_qvel": obs = concat(qpos[qpos_skip:], qvel) -- the pose is fully determined except the
    # skipped root coordinates; "none": the observation does not determine the pose.
    obs_layout: str = "none"
    qpos_skip: int = 0
    # Context fields the task supports beyond the shared physics fields (see spec.CONTEXT_FIELDS).
    geometric_fields: tuple[str, ...] = ()
    # Ranges used for sampling/training contexts: field -> (low, high). Fields not listed keep
    # their default. These are *training* ranges; validity bounds live in spec.CONTEXT_FIELDS.
    train_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


_SHARED_RANGES = {
    "gravity": (4.0, 16.0),
    "mass_scale": (0.5, 2.0),
    "friction_scale": (0.3, 2.0),
    "damping_scale": (0.5, 2.0),
    "actuator_scale": (0.6, 1.5),
}

_TASK_LIST = [
    TaskInfo(
        "InvertedPendulum",
        "InvertedPendulum-v5",
        1000,
        obs_layout="qpos_qvel",
        geometric_fields=("length_scale",),
        train_ranges={**_SHARED_RANGES, "length_scale": (0.6, 1.5)},
    ),
    TaskInfo(
        "InvertedDoublePendulum",
        "InvertedDoublePendulum-v5",
        1000,
        obs_layout="none",
        geometric_fields=("length_scale",),
        train_ranges={**_SHARED_RANGES, "length_scale": (0.7, 1.3)},
    ),
    TaskInfo("Reacher", "Reacher-v5", 50, obs_layout="none", train_ranges=dict(_SHARED_RANGES)),
    TaskInfo(
        "HalfCheetah",
        "HalfCheetah-v5",
        1000,
        obs_layout="qpos_qvel",
        qpos_skip=1,
        geometric_fields=("length_scale",),
        train_ranges={**_SHARED_RANGES, "length_scale": (0.8, 1.25)},
    ),
    TaskInfo(
        "Hopper",
        "Hopper-v5",
        1000,
        obs_layout="qpos_qvel",
        qpos_skip=1,
        train_ranges=dict(_SHARED_RANGES),
    ),
    TaskInfo(
        "Walker2d",
        "Walker2d-v5",
        1000,
        obs_layout="qpos_qvel",
        qpos_skip=1,
        train_ranges=dict(_SHARED_RANGES),
    ),
    TaskInfo(
        "Ant",
        "Ant-v5",
        1000,
        make_kwargs={"include_cfrc_ext_in_observation": False},
        obs_layout="qpos_qvel",
        qpos_skip=2,
        train_ranges=dict(_SHARED_RANGES),
    ),
]

TASKS: MappingProxyType[str, TaskInfo] = MappingProxyType({t.name: t for t in _TASK_LIST})


def get_task(name: str) -> TaskInfo:
    """Look a task up by genenv name (also accepts the gymnasium id, e.g. "Hopper-v5")."""
    if name in TASKS:
        return TASKS[name]
    for task in TASKS.values():
        if task.gym_id == name:
            return task
    raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
