"""Dream environments: a world model as a gymnasium Env/VectorEnv, SB3 VecEnv, PettingZoo env.

Exports are imported lazily (`import genenv` stays light; torch loads on first use):
`DreamVectorEnv`, `DreamConfig`, `DreamEnv`, `DreamSB3VecEnv`, `DreamParallelEnv`,
`PixelDreamVectorEnv`, `PixelDreamEnv`, and (with the `torchrl` extra) `DreamTorchRLEnv`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DreamVectorEnv": "genenv.envs.vector",
    "DreamConfig": "genenv.envs.config",
    "DreamEnv": "genenv.envs.single",
    "DreamSB3VecEnv": "genenv.envs.sb3",
    "DreamParallelEnv": "genenv.envs.multiagent",
    "DreamTorchRLEnv": "genenv.envs.torchrl",
    "PixelDreamVectorEnv": "genenv.envs.pixels",
    "PixelDreamEnv": "genenv.envs.pixels",
}
__all__ = [name for name in _EXPORTS if name != "DreamTorchRLEnv"]  # that one needs torchrl


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genenv.envs' has no attribute {name!r}")
