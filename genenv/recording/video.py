"""Writing frames: mp4 (moviepy 2) and GIF files, and animated GIFs in TensorBoard.

`SummaryWriter.add_video` silently writes nothing with moviepy 2 installed (it calls moviepy 1's
API), so `log_video_to_tensorboard` encodes the GIF itself and writes it as an image summary,
which TensorBoard's Images tab plays.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

VIDEO_SUFFIXES = (".mp4", ".gif")


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (T, H, W, 3) array, got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return frames


def _even(frames: np.ndarray) -> np.ndarray:
    """Pad height/width to even sizes (H.264 with yuv420p needs them) by repeating the edge."""
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def _clip(frames: np.ndarray, fps: int):
    """A moviepy clip showing frame i during [i/fps, (i+1)/fps), exactly T frames long.

    Not `ImageSequenceClip`: with NumPy 2 its float32 frame start times compare wrongly with the
    float64 times `iter_frames` asks for (every few frames one repeats and the next is lost), and
    its summed durations drop the last frame (101 frames at 20 fps come out as 100).
    """
    from moviepy import VideoClip

    last = len(frames) - 1

    def frame_at(t: float) -> np.ndarray:
        return frames[min(int(t * fps + 0.5), last)]

    return VideoClip(frame_function=frame_at, duration=(len(frames) + 0.5) / fps)


def write_video(frames: np.ndarray, path: str | Path, fps: int = 30) -> Path:
    """Write frames (T, H, W, 3) uint8 to `path` (.mp4 or .gif, chosen by suffix); returns it.

    mp4 (H.264, via moviepy) frames with an odd height or width get one edge row/column
    repeated. GIFs are written by `gif_bytes`, the encoder TensorBoard gets too (moviepy's GIF
    writer quantises each frame on its own and drops near-identical neighbours).
    """
    frames = _check_frames(frames)
    path = Path(path)
    if path.suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"video path must end in one of {VIDEO_SUFFIXES}: {path}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        path.write_bytes(gif_bytes(frames, fps))
        return path
    clip = _clip(_even(frames), fps)
    try:
        clip.write_videofile(str(path), fps=fps, codec="libx264", audio=False, logger=None)
    finally:
        clip.close()
    return path


def gif_bytes(frames: np.ndarray, fps: int = 30) -> bytes:
    """Encode frames (T, H, W, 3) uint8 as an endlessly looping animated GIF, in memory.

    Like every GIF encoder built on Pillow, identical consecutive frames merge into one longer one.
    """
    frames = _check_frames(frames)
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
    )
    return buffer.getvalue()


def log_video_to_tensorboard(
    writer_or_logdir: Any, tag: str, frames: np.ndarray, step: int, fps: int = 30
) -> None:
    """Write frames (T, H, W, 3) uint8 as an animated-GIF image summary under `tag` at `step`.

    `writer_or_logdir`: a `torch.utils.tensorboard.SummaryWriter` (left open) or a log folder
    (a writer is opened, written and closed).
    """
    from tensorboard.compat.proto.summary_pb2 import Summary
    from torch.utils.tensorboard import SummaryWriter

    frames = _check_frames(frames)
    image = Summary.Image(
        height=frames.shape[1],
        width=frames.shape[2],
        colorspace=3,  # RGB
        encoded_image_string=gif_bytes(frames, fps),
    )
    summary = Summary(value=[Summary.Value(tag=tag, image=image)])
    own = not isinstance(writer_or_logdir, SummaryWriter)
    writer = SummaryWriter(str(writer_or_logdir)) if own else writer_or_logdir
    try:
        writer._get_file_writer().add_summary(summary, global_step=step)
        writer.flush()
    finally:
        if own:
            writer.close()


def log_video_to_sb3_logger(logger: Any, tag: str, frames: np.ndarray, step: int, fps: int = 30):
    """The same through a stable-baselines3 `Logger` (e.g. `model.logger` inside a callback):
    written to each of its TensorBoard outputs; returns how many it wrote to (0: none set up)."""
    from stable_baselines3.common.logger import TensorBoardOutputFormat

    outputs = [f for f in logger.output_formats if isinstance(f, TensorBoardOutputFormat)]
    for fmt in outputs:
        log_video_to_tensorboard(fmt.writer, tag, frames, step, fps)
    return len(outputs)
