"""Small file-safety helpers shared by datasets, checkpoints and run folders.

- `follow_umask(fd)`: `tempfile.mkstemp` creates files with mode 0600 whatever the umask; files
  that are renamed into place (datasets, checkpoints, run state) get the mode an ordinary
  `open()` would have given them, so shared results stay readable by whom the umask allows.
- `remove_stale_tmp(folder)`: the temporary files an interrupted atomic write leaves behind
  (``.<name>.<random>.tmp``, ``<name>.tmp``) are deleted the next time a writer opens the folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(file: int | str | os.PathLike) -> None:
    """Give `file` (an open fd or a path) the mode `open()` would have created it with
    (0666 & ~umask)."""
    with contextlib.suppress(AttributeError, OSError):  # (no fchmod on some platforms)
        if isinstance(file, int):
            os.fchmod(file, 0o666 & ~_umask())
        else:
            os.chmod(file, 0o666 & ~_umask())


def remove_stale_tmp(folder: str | os.PathLike) -> list[Path]:
    """Delete the `*.tmp` files of interrupted atomic writes directly inside `folder`.

    Call it only from a writer that owns the folder (holding its lock, or the single process
    working in a run folder). Returns the paths removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if p.name.endswith(".tmp") and p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed
