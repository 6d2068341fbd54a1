"""genenv: an agent-training gym over generated (learned) environments."""

from __future__ import annotations

import logging
import os
import signal
import sys


def _is_cli_process() -> bool:
    """True when this interpreter runs the `genenv` command (console script or `-m genenv.cli`)."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if "-m" in argv[:-1] and argv[argv.index("-m") + 1] in ("genenv", "genenv.cli"):
        return True
    return any(os.path.basename(a) == "genenv" for a in argv[:2])


def _exit_quietly_on_ctrl_c(signum, frame) -> None:  # pragma: no cover - exits the process
    os.write(2, b"genenv: interrupted while starting; nothing was written\n")
    os._exit(130)


# A Ctrl-C that lands while the command is still importing (torch takes seconds) would print an
# import traceback: nothing has been written yet, so exit with one line instead. `genenv.cli.main`
# puts Python's own handler back when the command's work starts and handles KeyboardInterrupt.
# Only for the `genenv` command itself, and only where SIGINT has Python's default handler.
if _is_cli_process() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _exit_quietly_on_ctrl_c)

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
