"""Frame compositing with PIL: text labels, state-trace panels, side-by-side concatenation."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REAL_COLOUR = (40, 170, 60)  # real traces: green
PRED_COLOUR = (230, 110, 20)  # imagined traces: orange
CURSOR_COLOUR = (150, 150, 150)


def _font(height: int) -> ImageFont.ImageFont:
    size = max(8, height // 12)
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def label(frames: np.ndarray, text: str) -> np.ndarray:
    """Write `text` in the top-left corner of every frame (T, H, W, 3) uint8; returns a copy."""
    frames = np.asarray(frames)
    font = _font(frames.shape[1])
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        img = Image.fromarray(frame)
        draw = ImageDraw.Draw(img)
        draw.text((2, 1), text, fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=0)
        out[t] = np.asarray(img)
    return out


def hstack(*panels: np.ndarray) -> np.ndarray:
    """Concatenate panels (T, H, W_i, 3) along width; all must share T and H."""
    shapes = {(p.shape[0], p.shape[1]) for p in panels}
    if len(shapes) != 1:
        raise ValueError(f"panels differ in frame count or height: {[p.shape for p in panels]}")
    return np.concatenate(panels, axis=2)


def pick_dims(real: np.ndarray, k: int, num_preferred: int = 0) -> np.ndarray:
    """k observation dimensions to plot, in index order: those below `num_preferred` (positions,
    which read better than jittery velocities) first, each group by its spread along the real
    trace (T, obs_dim)."""
    spread = np.ptp(real, axis=0)  # (obs_dim,)
    preferred = np.arange(real.shape[1]) < num_preferred
    order = np.lexsort((-spread, ~preferred))[:k]  # last key sorts first
    return np.sort(order)


def trace_panel(
    real: np.ndarray,
    pred: np.ndarray,
    height: int,
    width: int,
    dims: np.ndarray | None = None,
    max_dims: int = 4,
    num_preferred: int = 0,
) -> np.ndarray:
    """(T, height, width, 3) uint8 frames plotting predicted against real state traces.

    `real` and `pred` are (T, obs_dim). Frame t shows both traces up to step t, one strip per
    plotted dimension (`dims`, or `max_dims` chosen by `pick_dims`); each strip's scale is the
    real trace's range with margin, and predictions outside it are drawn clipped to its edge.
    """
    real, pred = np.asarray(real, np.float64), np.asarray(pred, np.float64)
    if real.shape != pred.shape or real.ndim != 2:
        raise ValueError(f"real and pred must both be (T, obs_dim), got {real.shape}, {pred.shape}")
    T = real.shape[0]
    dims = pick_dims(real, max_dims, num_preferred) if dims is None else np.asarray(dims)
    font = _font(height)
    top = max(10, height // 8)  # room for the title
    strip = max(1, (height - top) // len(dims))
    xs = np.linspace(2, width - 3, max(T, 2))[:T]  # (T,)

    lines: list[tuple[np.ndarray, np.ndarray]] = []  # per dim: pixel y of (real, pred), (T,)
    for i, d in enumerate(dims):
        lo, hi = real[:, d].min(), real[:, d].max()
        pad = max(0.25 * (hi - lo), 1e-3)
        lo, hi = lo - pad, hi + pad
        y0, y1 = top + i * strip + strip - 2, top + i * strip + 1  # bottom, top pixel rows

        def to_px(v: np.ndarray, lo=lo, hi=hi, y0=y0, y1=y1) -> np.ndarray:
            v = np.nan_to_num(v, nan=lo, posinf=hi, neginf=lo)
            return y0 + (np.clip(v, lo, hi) - lo) / (hi - lo) * (y1 - y0)

        lines.append((to_px(real[:, d]), to_px(pred[:, d])))

    base = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(base)
    draw.text((2, 0), "real", fill=REAL_COLOUR, font=font)
    draw.text((2 + draw.textlength("real ", font=font), 0), "imagined", fill=PRED_COLOUR, font=font)
    for i, d in enumerate(dims):
        y = top + i * strip
        if i:
            draw.line([(0, y), (width, y)], fill=(220, 220, 220))
        if strip >= 2 * getattr(font, "size", 10):  # room for a dimension label
            text = f"obs[{d}]"
            x = width - 2 - draw.textlength(text, font=font)
            draw.text((x, y + 1), text, fill=CURSOR_COLOUR, font=font)
    real_width = 2 if height >= 96 else 1  # where the traces agree, real still shows
    out = np.empty((T, height, width, 3), dtype=np.uint8)
    for t in range(T):
        img = base.copy()
        draw = ImageDraw.Draw(img)
        draw.line([(xs[t], top), (xs[t], height)], fill=CURSOR_COLOUR)
        for y_real, y_pred in lines:
            if t == 0:
                draw.point([(xs[0], y_real[0]), (xs[0], y_pred[0])], fill=REAL_COLOUR)
                continue
            real_xy = list(zip(xs[: t + 1], y_real[: t + 1], strict=True))
            draw.line(real_xy, fill=REAL_COLOUR, width=real_width)  # under the prediction
            draw.line(list(zip(xs[: t + 1], y_pred[: t + 1], strict=True)), fill=PRED_COLOUR)
        out[t] = np.asarray(img)
    return out
