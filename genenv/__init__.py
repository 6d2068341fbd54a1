"""genenv: an agent-training gym over generated (learned) environments."""

from __future__ import annotations

import logging
import os

# Headless rendering by default: MuJoCo picks its GL backend at import, so this must come first.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

_log = logging.getLogger("genenv")


def _route_mujoco_warnings() -> None:
    """Send MuJoCo's warnings to logging instead of a MUJOCO_LOG.TXT in the user's folder.

    MuJoCo 4 warns that gymnasium's bundled XML uses the deprecated `settotalmass` and, left
    alone, appends that warning to ./MUJOCO_LOG.TXT every time such a model loads.
    """
    try:
        import mujoco
    except ImportError:  # pragma: no cover - mujoco is a hard dependency
        return
    mujoco.set_mju_user_warning(lambda msg: _log.debug("mujoco: %s", msg))


_route_mujoco_warnings()

from genenv.envs.registration import register_envs  # noqa: E402
from genenv.version import __version__  # noqa: E402

register_envs()

__all__ = ["__version__", "register_envs"]
