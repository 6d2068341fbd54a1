"""The one fixed camera each task is seen through by pixel worlds (`genenv collect --pixels`).

A pixel world model only makes sense if every frame it sees comes from the same camera, so the
camera is part of the task, not a rendering option. Gymnasium's default free camera aims itself
at the median of the geoms in the *first* frame it renders, so the same pose looks different in
different episodes; here the free camera gets an explicit `lookat`, which pins it:

- InvertedPendulum / InvertedDoublePendulum: side view of the rail, looking at (0, 0, 0.3 / 0.5)
  from 2.4 / 3.2 m, azimuth 90, elevation 0; the cart stays in view over its whole rail.
- Reacher: top-down view of the whole arena (lookat origin, 0.75 m, elevation -90).
- HalfCheetah / Hopper / Walker2d: the model's own "track" camera, which follows the torso at a
  fixed offset (these robots move through the world; a fixed camera would lose them).

Frames are square RGB uint8 arrays (size x size x 3), default 64.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genenv.worlds.spec import WorldSpec
from genenv.worlds.tasks import get_task

DEFAULT_PIXEL_SIZE = 64
PIXEL_SIZES = (16, 32, 64, 128)  # frame sizes a pixel world reads (its conv stack halves them)


@dataclass(frozen=True)
class PixelCamera:
    """How a task is filmed: a named model camera, or the free camera at a fixed placement."""

    camera_name: str | None = None  # a camera of the MuJoCo model (e.g. "track")
    free: dict[str, Any] = field(default_factory=dict)  # lookat, distance, azimuth, elevation

    def make_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `gymnasium.make` / `WorldSpec.make_env`."""
        if self.camera_name is not None:
            return {"camera_name": self.camera_name}
        cfg = dict(self.free)
        cfg["lookat"] = np.asarray(cfg["lookat"], dtype=np.float64)
        cfg["trackbodyid"] = -1
        return {"default_camera_config": cfg}

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (stored in dataset and checkpoint metadata)."""
        free = {k: list(v) if isinstance(v, tuple) else v for k, v in self.free.items()}
        return {"camera_name": self.camera_name, "free": free}


def _side(z: float, distance: float) -> PixelCamera:
    return PixelCamera(
        free={"lookat": (0.0, 0.0, z), "distance": distance, "azimuth": 90.0, "elevation": 0.0}
    )


PIXEL_CAMERAS: dict[str, PixelCamera] = {
    "InvertedPendulum": _side(0.3, 2.4),
    "InvertedDoublePendulum": _side(0.5, 3.2),
    "Reacher": PixelCamera(
        free={"lookat": (0.0, 0.0, 0.0), "distance": 0.75, "azimuth": 90.0, "elevation": -90.0}
    ),
    "HalfCheetah": PixelCamera(camera_name="track"),
    "Hopper": PixelCamera(camera_name="track"),
    "Walker2d": PixelCamera(camera_name="track"),
}


def pixel_camera(task: str) -> PixelCamera:
    """The fixed camera of `task`; a clear error for tasks without one."""
    name = get_task(task).name
    if name not in PIXEL_CAMERAS:
        raise ValueError(f"{name} has no pixel camera; pixel worlds cover {sorted(PIXEL_CAMERAS)}")
    return PIXEL_CAMERAS[name]


def check_camera(task: str, described: Any, what: str) -> None:
    """Refuse frames filmed through another camera than `task`'s today: `described` is the
    `PixelCamera.describe()` stored with `what` (a dataset or a checkpoint)."""
    current = pixel_camera(task).describe()
    if json.loads(json.dumps(described)) != json.loads(json.dumps(current)):
        raise ValueError(
            f"{what} was filmed through the {task} camera {described}, but this genenv films "
            f"{task} through {current}; its frames would be misread (collect and train again)"
        )


def make_pixel_env(spec: WorldSpec | str, size: int = DEFAULT_PIXEL_SIZE, **kwargs: Any):
    """The real env of `spec` rendering size x size rgb frames through the task's camera."""
    if isinstance(spec, str):
        spec = WorldSpec(spec)
    if not 16 <= size <= 512:
        raise ValueError(f"pixel size must be in [16, 512], got {size}")
    cam = pixel_camera(spec.task).make_kwargs()
    return spec.make_env(render_mode="rgb_array", width=size, height=size, **cam, **kwargs)
