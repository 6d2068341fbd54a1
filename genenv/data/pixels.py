"""Rendered frames stored beside the state: one arrow file per episode, raw uint8, no jpeg.

A pixel dataset is an ordinary genenv dataset whose metadata "genenv" block has a "pixels"
entry ({"size", "camera"}) and a frames file per episode, beside Minari's episode folders (Minari reads every file inside
an episode folder as part of the episode, so the frames live outside them)::

    DIR/pixels/<i>.arrow   an arrow IPC file, one row per observation (T+1 rows), column
                           "frame" = the size*size*3 bytes of the RGB frame (row-major HWC)

Each file is moved into place before the dataset metadata counts its episode, so a crash never
leaves a counted episode without frames.

Row t is the frame rendered right after observation t was produced (reset, then every step),
through the task's fixed camera (`genenv.worlds.cameras`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genenv.data.storage import read_metadata
from genenv.data.transitions import Transitions
from genenv.worlds.cameras import check_camera

PIXELS_DIR = "pixels"


def frames_path(dataset: str | os.PathLike, episode: int) -> Path:
    """Where the frames of `episode` of the dataset live."""
    return Path(dataset) / PIXELS_DIR / f"{int(episode)}.arrow"


def write_frames(path: Path, frames: np.ndarray) -> None:
    """Write (T, H, W, 3) uint8 frames to the arrow file `path`."""
    import pyarrow as pa

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape}")
    flat = frames.reshape(len(frames), -1)
    column = pa.array([row.tobytes() for row in flat], type=pa.binary(flat.shape[1]))
    schema = pa.schema(
        [pa.field("frame", column.type)], metadata={"shape": json.dumps(frames.shape[1:])}
    )
    table = pa.Table.from_arrays([column], schema=schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        writer.write_table(table)


def read_frames(path: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 frames from an arrow file written by `write_frames`."""
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    shape = tuple(json.loads(table.schema.metadata[b"shape"]))
    raw = table.column("frame").combine_chunks()
    data = np.frombuffer(raw.buffers()[1], dtype=np.uint8, count=len(raw) * int(np.prod(shape)))
    return data.reshape(len(raw), *shape).copy()


@dataclass
class PixelTransitions:
    """Real transitions with their frames: frames[obs_frame[i]] shows transitions.obs[i] and
    frames[obs_frame[i] + 1] shows transitions.next_obs[i]."""

    transitions: Transitions
    frames: np.ndarray  # (F, H, W, 3) uint8, every observation of every episode
    obs_frame: np.ndarray  # (N,) int64 frame index of each transition's observation
    camera: dict

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])


def pixel_info(path: str | os.PathLike) -> dict | None:
    """The dataset's pixel block ({"size", "camera"}) or None for a state-only dataset."""
    return read_metadata(path)["genenv"].get("pixels")


def load_pixel_transitions(path: str | os.PathLike) -> PixelTransitions:
    """All transitions of a pixel dataset with their frames (episode order)."""
    from genenv.data.load import load_transitions

    meta = read_metadata(path)["genenv"]
    info = meta.get("pixels")
    if info is None:
        raise ValueError(
            f"the dataset at {path} has no frames; collect one with `genenv collect --pixels`"
        )
    check_camera(meta["task"], info["camera"], f"the dataset at {path}")  # before reading frames
    t = load_transitions(path)
    frames, obs_frame, offset = [], [], 0
    for ep in np.unique(t.episode_ids):
        f = read_frames(frames_path(path, ep))
        steps = int((t.episode_ids == ep).sum())
        if len(f) != steps + 1:
            raise ValueError(f"episode {ep} of {path} has {len(f)} frames for {steps} steps")
        frames.append(f)
        obs_frame.append(offset + np.arange(steps))
        offset += len(f)
    return PixelTransitions(t, np.concatenate(frames), np.concatenate(obs_frame), info["camera"])
