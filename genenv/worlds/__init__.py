"""Real worlds: MuJoCo task families, physics contexts, `WorldSpec`, the real env factory, and
drawing a MuJoCo state (an observation decoded into a pose, rendered by MuJoCo itself)."""

from genenv.worlds.drawing import POSE_DECODERS, PoseRenderer, close_env, get_decoder
from genenv.worlds.real import WorldSpecWrapper, apply_context, make_real_env
from genenv.worlds.spec import CONTEXT_FIELDS, Context, InitialState, WorldSpec
from genenv.worlds.tasks import TASKS, TaskInfo, get_task

__all__ = [
    "CONTEXT_FIELDS",
    "POSE_DECODERS",
    "TASKS",
    "Context",
    "InitialState",
    "PoseRenderer",
    "TaskInfo",
    "WorldSpec",
    "WorldSpecWrapper",
    "apply_context",
    "close_env",
    "get_decoder",
    "get_task",
    "make_real_env",
]
