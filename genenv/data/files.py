"""Small file-safety helpers shared by datasets, checkpoints and run folders.

- `follow_umask(fd)`: `tempfile.mkstemp` creates files with mode 0600 whatever the umask; files
  that are renamed into place (datasets, checkpoints, run state) get the mode an ordinary
  `open()` would have given them, so shared results stay readable by whom the umask allows.
- `remove_stale_tmp(folder)`: the temporary files an interrupted atomic write leaves behind
  (``.<name>.<random>.tmp``, ``<name>.tmp``) are deleted the next time a writer opens the folder.
- `atomic_write_json(path, data)`: write to a temporary file beside `path`, fsync, rename over it:
  a kill leaves the old file or the new one, never half of one.
- `read_json(path, what)`: a JSON file's value; a damaged file is one ValueError naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


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


def read_json(path: str | os.PathLike, what: str | None = None) -> Any:
    """The value in the JSON file `path`. Undecodable bytes or text are one `ValueError` that
    names the file (`what`, default the path); a missing file stays `FileNotFoundError`."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what or path} is not valid JSON ({err})") from None


def atomic_write_json(
    path: str | os.PathLike, data: Any, indent: int | None = 1, default=None
) -> None:
    """json.dump `data` to a temporary file in `path`'s folder (mode from the umask), fsync, then
    rename it over `path`. The temporary file is removed on any failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    follow_umask(fd)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=indent, default=default)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
