"""Rollout recordings: real, imagined and side-by-side videos (mp4/gif) and TensorBoard GIFs.

Imagined states are rendered by MuJoCo itself: each observation is decoded into a pose and drawn
by a render-only copy of the real env (`genenv.worlds.drawing`).
"""

from genenv.recording.frames import hstack, label, trace_panel
from genenv.recording.record import (
    DEFAULT_KINDS,
    KINDS,
    RecordConfig,
    record_imagined,
    record_real,
    record_side_by_side,
    side_by_side_frames,
    video_name,
)
from genenv.recording.rollout import Rollout, make_policy, rollout_imagined, rollout_real
from genenv.recording.video import (
    gif_bytes,
    log_video_to_sb3_logger,
    log_video_to_tensorboard,
    write_video,
)

__all__ = [
    "DEFAULT_KINDS",
    "KINDS",
    "RecordConfig",
    "Rollout",
    "gif_bytes",
    "hstack",
    "label",
    "log_video_to_sb3_logger",
    "log_video_to_tensorboard",
    "make_policy",
    "record_imagined",
    "record_real",
    "record_side_by_side",
    "rollout_imagined",
    "rollout_real",
    "side_by_side_frames",
    "trace_panel",
    "video_name",
    "write_video",
]
