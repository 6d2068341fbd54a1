"""The `genenv` command line: an explicit registry of subcommands.

Each subcommand lives in the module that owns its work and exposes two functions:
`add_arguments(parser)` and `run(args) -> int`. Only the chosen subcommand's module is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import warnings
from typing import NoReturn

from genenv import progress
from genenv.cli_args import one_line

# name -> (module, one-line help). Order is the order `genenv --help` lists them in.
COMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("genenv.data.cli", "collect real MuJoCo transitions into a Minari dataset"),
    "train-world": ("genenv.models.cli", "train a probabilistic ensemble world model on a dataset"),
    "train-agent": ("genenv.agents.cli", "train an agent from a YAML recipe inside a world model"),
    "run": ("genenv.run_cli", "the full loop: collect, train world, train agent in dream, test"),
    "rank": ("genenv.rank", "rank saved policies by dream and real return, with their correlation"),
    "record": ("genenv.recording.cli", "write real / imagined / side-by-side rollout videos"),
    "plan": ("genenv.plan", "plan to a goal image in the real env with a pixel world"),
    "world": ("genenv.prompts.cli", "turn a text or image prompt into a WorldSpec"),
    "curriculum": ("genenv.curriculum_cli", "run a curriculum that spawns and replays worlds"),
    "bench": ("genenv.bench", "measure imagined vs real steps per second"),
    "eval": ("genenv.evaluate", "evaluate a saved agent in the real MuJoCo world"),
}


class CommandParser(argparse.ArgumentParser):
    """argparse with one-line errors: `genenv CMD: error: ...`, exit code 2, no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(ValueError(message))} (see --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it is empty (None/False) or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items())
    return CommandParser(
        prog="genenv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="genenv: train RL agents inside learned world models of MuJoCo tasks.",
        epilog=f"commands:\n{lines}\n\nRun `genenv COMMAND --help` for a command's options.",
        usage="genenv [-h] [--version] COMMAND [ARGS...]",
    )


def expected_errors() -> tuple[type[BaseException], ...]:
    """Failures that are the input's or the machine's fault, not genenv's: one line, exit 2.
    Anything else is a bug and keeps its traceback."""
    errors: list[type[BaseException]] = [ValueError, OSError, MemoryError]
    for module, name in (
        ("yaml", "YAMLError"),
        ("PIL.Image", "DecompressionBombError"),
        ("torch", "OutOfMemoryError"),  # a device's memory is the machine's limit, not a bug
    ):
        cls = getattr(sys.modules.get(module), name, None)  # only raised once imported
        if cls is not None:
            errors.append(cls)
    return tuple(errors)


def _apply_common(args: argparse.Namespace) -> None:
    """Options every command shares, applied before the command runs."""
    threads = getattr(args, "threads", None)
    if threads:
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        else:  # torch sizes its pool from these when it starts; commands that never use
            # torch (`world` with a text prompt) then skip its seconds-long import
            os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if getattr(args, "no_progress", False):
        progress.set_enabled(False)


def _drop_stdout_if_broken() -> None:
    """If stdout cannot take its buffered output (full disk, closed pipe), point it at
    /dev/null so that neither this error nor the interpreter's exit adds a second message."""
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        with contextlib.suppress(OSError):
            sys.stdout.flush()


_default_format_warning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """genenv's own warnings as one line, `genenv: warning: ...`; others as Python shows them."""
    if issubclass(category, UserWarning) and f"{os.sep}genenv{os.sep}" in str(filename):
        return f"genenv: warning: {message}\n"
    return _default_format_warning(message, category, filename, lineno, line)


def _end_quiet_start() -> None:
    """The command's work starts: from here a Ctrl-C raises KeyboardInterrupt, handled below.
    Until now (package and command imports, parsing) the `genenv` process had the package's
    quiet exit (genenv/__init__.py): nothing was written yet, and an import cut short by
    KeyboardInterrupt can also die by SIGINT in the interpreter's teardown."""
    quiet = getattr(sys.modules.get("genenv"), "_exit_quietly_on_ctrl_c", None)
    if quiet is not None and signal.getsignal(signal.SIGINT) is quiet:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _forget_handled_interrupt() -> None:
    """Clear CPython's "KeyboardInterrupt went unhandled" flag once `main` has handled one.

    CPython sets that flag whenever code it runs through `PyRun_String` ends in
    KeyboardInterrupt, even when an outer `except` catches it, and never clears it. MuJoCo's
    bindings evaluate such strings (`__import__('importlib').import_module(...)`), so a Ctrl-C
    that lands there leaves the flag set, and `python -m genenv.cli` then kills itself with
    SIGINT after `main` returned 130. Running one more string through `PyRun_String` resets the
    flag; where ctypes cannot reach the C API (not CPython) there is nothing to reset."""
    try:
        import ctypes

        run_string = ctypes.pythonapi.PyRun_String
    except (ImportError, AttributeError):  # pragma: no cover - not CPython
        return
    run_string.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
    run_string.restype = ctypes.py_object
    scope: dict = {}
    run_string(b"None", 258, scope, scope)  # 258: Py_eval_input


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering by default
    warnings.formatwarning = _format_warning
    top = _top_parser()
    top.add_argument("--version", action="store_true", help="print the version and exit")
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from genenv.version import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"genenv: error: unknown command {name!r}; choose from: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = CommandParser(
        prog=f"genenv {name}",
        description=(module.__doc__ or help_).strip(),
        formatter_class=HelpFormatter,
    )
    module.add_arguments(parser)
    try:
        args = parser.parse_args(rest)
    except SystemExit as exit_:  # --help (0) or a bad argument (2, message already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    _end_quiet_start()
    bars_were_on = progress.enabled()
    try:
        _apply_common(args)
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, inside the handler
        return code
    except KeyboardInterrupt:
        print("\ninterrupted; everything written so far is kept", file=sys.stderr)
        _forget_handled_interrupt()
        return 130
    except expected_errors() as err:  # the user's input or the machine: one line, no traceback
        _drop_stdout_if_broken()
        print(f"genenv {name}: error: {one_line(err)}", file=sys.stderr)
        return 2
    finally:  # `main` called in-process (tests, notebooks) leaves the caller's settings as found
        progress.set_enabled(bars_were_on)
        warnings.formatwarning = _default_format_warning


if __name__ == "__main__":
    sys.exit(main())
