"""Crash-safe Minari datasets in a folder the user names.

A genenv dataset is a Minari dataset (arrow format, readable with `minari.MinariDataset(path)`)::

    DIR/metadata.json          Minari's dataset metadata + a "genenv" block (task, collections)
    DIR/<i>/part-0.arrow       episode i (Minari's arrow layout)
    DIR/<i>/metadata.json      episode i's metadata, with its "world_spec" and reset "seed"

Minari's `create_dataset_from_buffers` always writes under `MINARI_DATASETS_PATH`, so genenv
builds the same storage with `MinariStorage.new` in the folder you name instead.

Appending is crash-safe. A chunk of completed episodes is first written by Minari's own writer
into a staging folder inside DIR, each episode folder is then moved into place with an atomic
rename, and only after that is DIR/metadata.json replaced atomically (temp file + `os.replace`)
with the new episode count. Readers only look at episodes below `total_episodes`, so a crash at any
point leaves the dataset readable with every episode of every earlier chunk; the next append
removes the leftovers (staging folders, episode folders past the count) before it writes.
Existing episode files are never opened for writing.

Every episode's metadata holds a "checksum" (SHA-256 over its observations, actions, rewards,
terminations and truncations, see `episode_checksum`) that `genenv.data.load` checks on every
read: a damaged episode file is a clear error, never training data. Datasets of format 1 (written
before checksums) still load, with a warning that their episodes are unverified; episodes
appended to them carry checksums and are checked. From format 2 on, an episode without a
checksum is an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from genenv.data.files import atomic_write_json, read_json, remove_stale_tmp

GENENV_DATA_FORMAT = 2  # version of the "genenv" block; 2: every episode has a checksum
_STAGING_PREFIX = ".genenv-staging-"
_LOCK_NAME = ".genenv-lock"


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_json(path, data, indent=None, default=_json_default)


def episode_checksum(
    observations: Any, actions: Any, rewards: Any, terminations: Any, truncations: Any
) -> str:
    """SHA-256 of one episode's arrays in a canonical form (float64 numbers, bool flags), so
    the value at write time and after Minari's arrow round trip agree bit for bit."""
    h = hashlib.sha256()
    for values, dtype in (
        (observations, np.float64),
        (actions, np.float64),
        (rewards, np.float64),
        (terminations, np.bool_),
        (truncations, np.bool_),
    ):
        arr = np.ascontiguousarray(np.asarray(values, dtype=dtype))
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, set):
        return sorted(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The dataset metadata (raw JSON) of a genenv dataset; clear errors if DIR is not one."""
    path = Path(path)
    meta_file = path / "metadata.json"
    if not path.is_dir():
        raise FileNotFoundError(f"no dataset folder at {path}")
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not a dataset: it has no metadata.json")
    meta = read_json(meta_file)
    if not isinstance(meta, dict) or not isinstance(meta.get("genenv"), dict):
        raise ValueError(f"{path} is a Minari dataset but not one written by genenv collect")
    for key in ("total_episodes", "total_steps"):
        if not isinstance(meta.get(key), int) or isinstance(meta[key], bool) or meta[key] < 0:
            raise ValueError(f"{meta_file}: {key} must be a non-negative integer")
    if not isinstance(meta["genenv"].get("collections", []), list):
        raise ValueError(f"{meta_file}: genenv.collections must be a list")
    return meta


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on DIR while writing (released by the OS on a crash)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path / _LOCK_NAME, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise ValueError(f"another process is writing to the dataset at {path}") from err
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _staging_storage_class():
    from minari.dataset._storages.arrow_storage import ArrowStorage

    class StagingStorage(ArrowStorage):
        """Minari's arrow writer without its per-episode scan of the folder size (O(n^2))."""

        def get_size(self) -> float:
            return 0.0

    return StagingStorage


def _checksum_of(ep: dict[str, Any]) -> str:
    return episode_checksum(
        ep["observations"], ep["actions"], ep["rewards"], ep["terminations"], ep["truncations"]
    )


class DatasetWriter:
    """Appends episodes to a genenv/Minari dataset at `path`, creating it when absent.

    Use as a context manager; `append(episodes, collection)` commits one chunk atomically.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        task: str,
        observation_space: gym.Space,
        action_space: gym.Space,
        env_spec_json: str | None = None,
        pixels: dict[str, Any] | None = None,
    ):
        self.pixels = pixels  # {"size", "camera"} for a pixel dataset (see genenv.data.pixels)
        self.path = Path(path).absolute()  # (Minari's size scan needs an absolute path)
        self.task = task
        self.observation_space = observation_space
        self.action_space = action_space
        self.env_spec_json = env_spec_json
        self._lock: contextlib.AbstractContextManager | None = None

    def __enter__(self) -> DatasetWriter:
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _locked(self.path)
        self._lock.__enter__()
        try:
            if (self.path / "metadata.json").exists():
                self._check_compatible(read_metadata(self.path))
                self._remove_leftovers()
            else:
                self._create()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock is not None:
            self._lock.__exit__(*exc)
            self._lock = None

    # -- creation and checks -------------------------------------------------------------------
    def _create(self) -> None:
        others = [p.name for p in self.path.iterdir() if p.name != _LOCK_NAME]
        if others:
            raise ValueError(
                f"{self.path} exists and is not empty ({', '.join(sorted(others)[:5])}); "
                "give a new folder or an existing genenv dataset"
            )
        from minari import __version__ as minari_version
        from minari.serialization import serialize_space

        meta: dict[str, Any] = {
            "dataset_id": f"genenv/{self.task}-v0",
            "total_episodes": 0,
            "total_steps": 0,
            "data_format": "arrow",
            "jpeg_encoding": False,
            "observation_space": serialize_space(self.observation_space),
            "action_space": serialize_space(self.action_space),
            "minari_version": minari_version,
            "algorithm_name": "genenv collect",
            "author": ["genenv"],
            "description": f"Real {self.task} transitions collected by genenv; the physics "
            "context of each episode is in its metadata ('world_spec').",
            "genenv": {
                "format_version": GENENV_DATA_FORMAT,
                "task": self.task,
                "contexts": "per-episode metadata key 'world_spec'",
                "collections": [],
            },
        }
        if self.pixels is not None:
            meta["genenv"]["pixels"] = self.pixels
        if self.env_spec_json is not None:
            meta["env_spec"] = self.env_spec_json
        _atomic_write_json(self.path / "metadata.json", meta)

    def _check_compatible(self, meta: dict[str, Any]) -> None:
        from minari.serialization import deserialize_space

        have = meta["genenv"].get("task")
        if have != self.task:
            raise ValueError(f"the dataset at {self.path} holds task {have}, not {self.task}")
        if meta["genenv"].get("pixels") != self.pixels:
            raise ValueError(
                f"the dataset at {self.path} has frames {meta['genenv'].get('pixels')}, this "
                f"collection has {self.pixels}; use a new folder"
            )
        if meta.get("data_format") != "arrow":
            raise ValueError(f"the dataset at {self.path} is not in Minari's arrow format")
        for key, space in (("observation", self.observation_space), ("action", self.action_space)):
            stored = deserialize_space(meta[f"{key}_space"])
            if stored != space:
                raise ValueError(
                    f"the dataset at {self.path} has {key} space {stored}, this env has {space}"
                )

    def _remove_leftovers(self) -> None:
        """Delete what an interrupted append may have left: staging folders, uncounted episodes,
        temporary metadata files."""
        remove_stale_tmp(self.path)
        total = int(read_metadata(self.path)["total_episodes"])
        counted = 0
        for p in self.path.iterdir():
            stale = p.name.startswith(_STAGING_PREFIX) or (
                p.name.isdigit() and int(p.name) >= total
            )
            if stale and p.is_dir():
                shutil.rmtree(p)
            elif p.name.isdigit() and p.is_dir():
                counted += 1
        if counted != total:
            raise ValueError(
                f"the dataset at {self.path} says it holds {total} episodes but {counted} episode "
                "folders exist; it was edited or damaged, so nothing is appended to it"
            )

    # -- appending -----------------------------------------------------------------------------
    def append(self, episodes: Sequence[dict[str, Any]], collection: dict[str, Any]) -> None:
        """Commit `episodes` (dicts with observations, actions, rewards, terminations,
        truncations, seed, world_spec) and the updated `collection` record in one step."""
        from minari.data_collector.episode_buffer import EpisodeBuffer

        self._remove_leftovers()  # e.g. of an earlier append interrupted in this process
        meta = read_metadata(self.path)
        first = int(meta["total_episodes"])
        staging = self.path / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            _atomic_write_json(staging / "metadata.json", {**meta, "dataset_size": 0})
            storage = _staging_storage_class()(
                staging, self.observation_space, self.action_space, jpeg_encoding=False
            )
            buffers = [
                EpisodeBuffer(
                    id=first + k,
                    seed=ep.get("seed"),
                    observations=np.asarray(ep["observations"]),
                    actions=np.asarray(ep["actions"]),
                    rewards=np.asarray(ep["rewards"]),
                    terminations=np.asarray(ep["terminations"]),
                    truncations=np.asarray(ep["truncations"]),
                )
                for k, ep in enumerate(episodes)
            ]
            if buffers:
                storage.update_episodes(buffers)
                storage.update_episode_metadata(
                    [
                        {"world_spec": ep["world_spec"], "checksum": _checksum_of(ep)}
                        for ep in episodes
                    ],
                    [first + k for k in range(len(episodes))],
                )
            for k, ep in enumerate(episodes):
                if "pixels" in ep:  # frames beside the state (a stale file is replaced)
                    from genenv.data.pixels import frames_path, write_frames

                    staged = staging / f"pixels-{first + k}.arrow"
                    write_frames(staged, np.asarray(ep["pixels"]))
                    frames_path(self.path, first + k).parent.mkdir(exist_ok=True)
                    os.replace(staged, frames_path(self.path, first + k))
            for k in range(len(episodes)):
                os.rename(staging / str(first + k), self.path / str(first + k))
            steps = int(sum(len(ep["rewards"]) for ep in episodes))
            meta["total_episodes"] = first + len(episodes)
            meta["total_steps"] = int(meta["total_steps"]) + steps
            records = meta["genenv"]["collections"]
            ids = [r["id"] for r in records]
            if collection["id"] in ids:
                records[ids.index(collection["id"])] = collection
            else:
                records.append(collection)
            meta["genenv"]["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            _atomic_write_json(self.path / "metadata.json", meta)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def committed(self, collection: dict[str, Any]) -> bool:
        """Whether the dataset's record of `collection` already shows its `steps` (tells an
        append that was interrupted after its commit point from one that was not)."""
        for r in read_metadata(self.path)["genenv"]["collections"]:
            if r.get("id") == collection["id"]:
                return r.get("steps") == collection["steps"]
        return False

    def next_collection_id(self) -> int:
        records = read_metadata(self.path)["genenv"]["collections"]
        return 1 + max((r["id"] for r in records), default=-1)
