"""Argument types shared by every `genenv` command, and the one-line error they all report.

Each validator is an argparse `type=` function: it turns the text into a value or raises
`argparse.ArgumentTypeError`, so argparse reports `genenv CMD: error: argument --flag: ...`
before any work starts. `one_line(err)` is how `genenv.cli.main` prints an expected failure.
This module imports nothing from genenv (it sits below every command module).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
from pathlib import Path

# Torch intra-op threads of every command, chosen by measurement (benchmarks/threads.py): one
# thread keeps its speed when other processes share the machine; torch's default (one thread per
# core) collapses there. See the README's "Threads" section.
DEFAULT_THREADS = 1
MAX_MESSAGE = 400  # characters of an error message shown (a tensor repr can be thousands)


class InputError(ValueError):
    """Bad user input found while a command works (a file's content, a value out of range)."""


def _int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {text!r}")
    return value


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (>= 0), got {text!r}")
    return value


def int_between(low: int, high: int):
    """An integer in [low, high]."""

    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer in [{low}, {high}], got {text!r}")
        return value

    parse.__name__ = f"int in [{low}, {high}]"
    return parse


def finite_float(text: str) -> float:
    """Any finite number (no nan, no inf)."""
    return _float(text)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = _float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}")
    return value


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**32 - 1] (what numpy and gymnasium accept)."""
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32 - 1], got {text!r}")
    return value


def threads(text: str) -> int:
    """Torch intra-op threads: 1 .. 4 x the CPU count."""
    value = _int(text)
    limit = 4 * (os.cpu_count() or 1)
    if not 1 <= value <= limit:
        raise argparse.ArgumentTypeError(f"must be an integer in [1, {limit}], got {text!r}")
    return value


def device(text: str) -> str:
    """A torch device string this machine has: cpu, cuda, cuda:N, mps."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device; expected cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"{text!r}: this torch build ({torch.__version__}) has no usable CUDA device; "
                "use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{text!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(
            f"{text!r}: genenv runs on cpu, cuda or mps devices, not {dev.type}"
        )
    return str(dev)


def context_pair(text: str) -> tuple[str, float]:
    """One physics context item, FIELD=VALUE with a finite number (e.g. gravity=5)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            f"expected FIELD=VALUE (e.g. gravity=5 mass_scale=1.5), got {text!r}"
        )
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a finite number")
    return key, number


def utf8_text(text: str) -> str:
    """Text that is valid UTF-8 (argv bytes that are not arrive as surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("is not valid UTF-8 text") from None
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty")
    return text


def _check_nearest_parent(path: Path) -> None:
    """The nearest existing parent of `path` must be a folder (else nothing can be written)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{parent} is a file, not a folder")
            return


def out_dir(text: str) -> Path:
    """An output folder: may exist as a folder, must not be a file, its parent must not be one."""
    path = Path(text)
    if text == "" or not str(path).strip():
        raise argparse.ArgumentTypeError("expected a folder path, got an empty string")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    _check_nearest_parent(path)
    return path


def out_file(text: str) -> Path:
    """An output file: must not be a folder, and its parent must not be a file."""
    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    _check_nearest_parent(path)
    return path


def _existing(text: str, noun: str, is_kind) -> Path:
    """`text` as a path that exists and `is_kind` (Path.is_file / Path.is_dir), named `noun`."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such {noun}: {text}")
    if not is_kind(path):
        raise argparse.ArgumentTypeError(f"{text} is not a {noun}")
    return path


def in_file(text: str) -> Path:
    """An existing, readable file."""
    return _existing(text, "file", Path.is_file)


def in_dir(text: str) -> Path:
    """An existing folder."""
    return _existing(text, "folder", Path.is_dir)


def add_context(parser: argparse.ArgumentParser, help: str) -> None:
    """--context FIELD=VALUE ... (physics context items, each checked by `context_pair`)."""
    parser.add_argument(
        "--context", nargs="*", type=context_pair, default=[], metavar="FIELD=VALUE", help=help
    )


def add_common(parser: argparse.ArgumentParser, progress: bool = True) -> None:
    """--threads (and --no-progress) as every command has them; `genenv.cli.main` applies them."""
    parser.add_argument(
        "--threads",
        type=threads,
        default=DEFAULT_THREADS,
        help="torch CPU threads; 1 keeps its speed when other processes share the machine "
        "(README: 'The command line')",
    )
    if progress:
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="no progress bars or progress log lines (on a non-terminal, progress is "
            "printed as plain lines every GENENV_LOG_INTERVAL seconds, default 30)",
        )


def check_writable(folder: Path) -> None:
    """Prove that `folder` (or, if it does not exist yet, its nearest existing parent) takes a new
    file, so a command fails before its work instead of after it; creates nothing."""
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(existing))
    probe = existing / f".genenv-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
    finally:
        probe.unlink(missing_ok=True)


def one_line(err: BaseException) -> str:
    """An expected failure as one short line: OSErrors name the file, long texts are cut."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror
        if err.errno == errno.ENOSPC:
            text = "no space left on device (what was written before stays whole)"
        if err.filename is not None:
            text += f": {os.fsdecode(err.filename)}"
        if err.filename2 is not None:
            text += f" -> {os.fsdecode(err.filename2)}"
    elif isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        text = f"out of memory ({str(err).splitlines()[0] if str(err) else 'no detail'})"
    elif isinstance(err, UnicodeError):
        text = f"text is not valid UTF-8 ({err.reason})"
    else:
        text = str(err) or type(err).__name__
        if type(err).__module__.startswith("yaml"):
            text = f"malformed YAML: {text}"
    text = " ".join(text.split())  # one line
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3] + "..."
    return text
