"""Dream environments: a world model as a gymnasium Env/VectorEnv, SB3 VecEnv, PettingZoo env.

Exports are imported lazily (`import genenv` stays light; torch loads on first use):
`DreamVectorEnv`, `DreamConfig`, `DreamEnv`, `DreamSB3VecEnv`, `DreamParallelEnv`,
`PixelDreamVectorEnv`, `PixelDreamEnv`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DreamVectorEnv": "genenv.envs.vector",
    "DreamConfig": "genenv.envs.vector",
    "DreamEnv": "genenv.envs.single",
    "DreamSB3VecEnv": "genenv.envs.sb3",
    "DreamParallelEnv": "genenv.envs.multiagent",
    "PixelDreamVectorEnv": "genenv.envs.pixels",
    "PixelDreamEnv": "genenv.envs.pixels",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genenv.envs' has no attribute {name!r}")
