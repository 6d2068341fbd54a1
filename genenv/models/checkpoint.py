"""World-model checkpoints: safetensors weights + JSON metadata; loading never unpickles.

A checkpoint is a folder::

    DIR/metadata.json              format_version, kind, task, spaces, the kind's config, ...
    DIR/weights-<sha8>.safetensors all tensors, normalisers and real start states included

Saving is atomic: the weights go to a new, content-named file, then `metadata.json` (which
names that file and its SHA-256) is replaced in one `os.replace`; only then are older weights
files removed. A crash at any point leaves either the old or the new checkpoint, whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from genenv.data.files import atomic_write_json, follow_umask, read_json, remove_stale_tmp
from genenv.models.kinds import config_from_meta, get_kind, kind_of
from genenv.worlds import CONTEXT_FIELDS, get_task

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    model: torch.nn.Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write `model` to the folder `path` (created if needed); `metadata` is stored alongside
    (e.g. data fingerprint, validation and open-loop errors). Returns the folder."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    from genenv.version import __version__

    kind = kind_of(model)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)  # litter of an interrupted save
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".weights.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            save_file(tensors, tmp)
        except SafetensorError as err:  # e.g. a full disk: an OSError to the caller
            raise OSError(f"cannot write the weights of checkpoint {path} ({err})") from None
        follow_umask(tmp)
        digest = _sha256(Path(tmp))
        weights_name = f"weights-{digest[:8]}.safetensors"
        os.replace(tmp, path / weights_name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    meta: dict[str, Any] = {
        **(metadata or {}),
        "format_version": FORMAT_VERSION,
        "kind": kind.name,
        "task": model.task,
        "obs_dim": model.obs_dim,
        "act_dim": model.act_dim,
        "ctx_dim": model.ctx_dim,
        "context_fields": list(CONTEXT_FIELDS),
        "action_low": model.action_low.cpu().reshape(-1).tolist(),
        "action_high": model.action_high.cpu().reshape(-1).tolist(),
        kind.config_key: asdict(model.config),
        **kind.describe(model),
        "weights_file": weights_name,
        "weights_sha256": digest,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "genenv_version": __version__,
    }
    atomic_write_json(path / METADATA_FILE, meta, indent=2)
    for old in path.glob("weights-*.safetensors"):
        if old.name != weights_name:
            old.unlink()
    return path


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of the checkpoint folder at `path` (checked for format and kind)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_file() and path.name == METADATA_FILE:
        path = path.parent
    meta_file = path / METADATA_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"checkpoint {path} is missing its {METADATA_FILE}")
    meta = read_json(meta_file, f"checkpoint {path}: {METADATA_FILE}")
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise ValueError(f"checkpoint {path}: {METADATA_FILE} has no format_version")
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has unknown format_version {meta['format_version']!r}; this "
            f"genenv reads format_version {FORMAT_VERSION}"
        )
    try:
        kind = get_kind(meta.get("kind"))
    except ValueError as err:
        raise ValueError(f"checkpoint {path}: {err}") from err
    if not isinstance(meta.get("task"), str):
        raise ValueError(f"checkpoint {path}: {METADATA_FILE} needs a task name")
    for key in ("obs_dim", "act_dim", "ctx_dim"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"checkpoint {path}: {METADATA_FILE} needs {key} as a positive integer, "
                f"got {value!r}"
            )
    if not isinstance(meta.get(kind.config_key), dict):
        raise ValueError(f"checkpoint {path}: {METADATA_FILE} needs a {kind.config_key!r} mapping")
    return meta


def load_checkpoint(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    expect_task: str | None = None,
    expect_obs_dim: int | None = None,
    expect_act_dim: int | None = None,
) -> torch.nn.Module:
    """Load the world model saved at `path` onto `device`, refusing any mismatch clearly."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_checkpoint_metadata(path)
    if path.is_file():
        path = path.parent
    task = meta["task"]
    if expect_task is not None and get_task(expect_task).name != task:
        raise ValueError(
            f"checkpoint {path} is a world model of task {task}, not {get_task(expect_task).name}"
        )
    for what, want, have in (
        ("observation", expect_obs_dim, meta["obs_dim"]),
        ("action", expect_act_dim, meta["act_dim"]),
    ):
        if want is not None and want != have:
            raise ValueError(
                f"checkpoint {path} has {what} dimension {have}, but {want} was expected"
            )
    if meta.get("context_fields") != list(CONTEXT_FIELDS):
        raise ValueError(
            f"checkpoint {path} uses context fields {meta.get('context_fields')}; this genenv "
            f"uses {list(CONTEXT_FIELDS)}"
        )
    name = meta.get("weights_file")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(
            f"checkpoint {path}: weights_file must be a bare file name inside the checkpoint "
            f"folder, got {name!r}"
        )
    weights = path / name
    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint {path} is missing its weights file {weights.name}")
    if _sha256(weights) != meta.get("weights_sha256"):
        raise ValueError(
            f"checkpoint {path}: weights file {weights.name} is corrupt (its SHA-256 does not "
            "match the metadata)"
        )
    try:
        tensors = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"checkpoint {path}: weights file {weights.name} is corrupt ({err})"
        ) from err
    kind = get_kind(meta["kind"])
    try:
        model = kind.build(meta, config_from_meta(kind, meta))
    except (KeyError, TypeError, ValueError, RuntimeError) as err:  # metadata that builds no model
        raise ValueError(
            f"checkpoint {path}: {METADATA_FILE} does not describe a valid {kind.name} model "
            f"({type(err).__name__}: {err})"
        ) from None
    if "camera" in meta:  # a pixel world: its encoder reads frames of that camera only
        from genenv.worlds.cameras import check_camera

        check_camera(task, meta["camera"], f"checkpoint {path}")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and k not in kind.variable_buffers and tensors[k].shape != v.shape
    ]
    if missing or extra or wrong:
        raise ValueError(
            f"checkpoint {path}: tensor shape mismatch with its metadata "
            f"(missing {missing}, unexpected {extra}, wrong shapes {wrong})"
        )
    for name in kind.variable_buffers:
        setattr(model, name, torch.empty_like(tensors[name]))
    model.load_state_dict(tensors)
    return model.to(device).eval()
