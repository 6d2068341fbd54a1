"""Real worlds: MuJoCo task families, physics contexts, `WorldSpec`, and the real env factory."""

from genenv.worlds.real import WorldSpecWrapper, apply_context, make_real_env
from genenv.worlds.spec import CONTEXT_FIELDS, Context, InitialState, WorldSpec
from genenv.worlds.tasks import TASKS, TaskInfo, get_task

__all__ = [
    "CONTEXT_FIELDS",
    "TASKS",
    "Context",
    "InitialState",
    "TaskInfo",
    "WorldSpec",
    "WorldSpecWrapper",
    "apply_context",
    "get_task",
    "make_real_env",
]
