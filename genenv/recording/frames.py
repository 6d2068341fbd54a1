"""Frame compositing with PIL: text labels, state-trace panels with axes, side-by-side concatenation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REAL_COLOUR = (40, 170, 60)  # real traces: green
PRED_COLOUR = (230, 110, 20)  # imagined traces: orange
CURSOR_COLOUR = (150, 150, 150)
AXIS = (90, 90, 90)  # tick labels
GRID = (215, 215, 215)  # strip frames


def _font(height: int, divisor: int = 12) -> ImageFont.ImageFont:
    size = max(8, height // divisor)
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def label(frames: np.ndarray, text: str | Sequence[str]) -> np.ndarray:
    """Write `text` (one string, or one per frame) in the top-left corner of every frame
    (T, H, W, 3) uint8; returns a copy."""
    frames = np.asarray(frames)
    texts = [text] * len(frames) if isinstance(text, str) else list(text)
    if len(texts) != len(frames):
        raise ValueError(f"{len(texts)} labels for {len(frames)} frames")
    font = _font(frames.shape[1])
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        img = Image.fromarray(frame)
        draw = ImageDraw.Draw(img)
        draw.text((2, 1), texts[t], fill=(255, 255, 255), font=font, stroke_width=1, stroke_fill=0)
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


def _ticks(lo: float, hi: float) -> tuple[str, str]:
    return f"{lo:.3g}", f"{hi:.3g}"


def _range(*traces: np.ndarray) -> tuple[float, float]:
    """A y range holding every finite value of the traces, with a margin (nothing clips)."""
    values = np.concatenate([t[np.isfinite(t)] for t in traces])
    if values.size == 0:
        return -1.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    pad = max(0.1 * (hi - lo), 1e-3 * max(1.0, abs(lo), abs(hi)))
    return lo - pad, hi + pad


def trace_panel(
    real: np.ndarray,
    pred: np.ndarray,
    height: int,
    width: int,
    dims: np.ndarray | None = None,
    max_dims: int = 4,
    num_preferred: int = 0,
    names: tuple[str, str] = ("real", "imagined"),
) -> np.ndarray:
    """(T, height, width, 3) uint8 frames plotting two state traces against time.

    `real` (T1, obs_dim) and `pred` (T2, obs_dim) may differ in length (one episode may end
    first; it then stays as it was); T = max(T1, T2). Frame t shows both traces up to step t, one
    strip per plotted dimension (`dims`, or `max_dims` chosen by `pick_dims` from `real`). Each
    strip's y scale holds every value of both traces, so no line leaves its strip; its bottom and
    top values are written on the left axis, and the bottom axis counts steps. `names` label the
    two traces in the title row (green: first, orange: second).
    """
    real, pred = np.asarray(real, np.float64), np.asarray(pred, np.float64)
    if real.ndim != 2 or pred.ndim != 2 or real.shape[1] != pred.shape[1]:
        raise ValueError(f"real and pred must be (T, obs_dim) each, got {real.shape}, {pred.shape}")
    T = max(len(real), len(pred))
    dims = pick_dims(real, max_dims, num_preferred) if dims is None else np.asarray(dims)
    font, small = _font(height), _font(height, 24)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_h = draw.textbbox((0, 0), "0", font=small)[3] + 2
    ranges = [_range(real[:, d], pred[:, d]) for d in dims]
    left = 4 + max(draw.textlength(s, font=small) for r in ranges for s in _ticks(*r))
    top = draw.textbbox((0, 0), names[0], font=font)[3] + 4  # the title row
    bottom = height - text_h - 3  # the time axis below
    strip = max(3, (bottom - top) // len(dims))
    xs = np.linspace(left + 1, width - 3, max(T, 2))[:T]  # (T,) pixel x of each step

    lines: list[tuple[np.ndarray, np.ndarray]] = []  # per dim: pixel y of (real, pred)
    base = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(base)
    draw.text((2, 0), names[0], fill=REAL_COLOUR, font=font)
    draw.text((6 + draw.textlength(names[0], font=font), 0), names[1], fill=PRED_COLOUR, font=font)
    for i, (d, (lo, hi)) in enumerate(zip(dims, ranges, strict=True)):
        y1, y0 = top + i * strip + 2, top + (i + 1) * strip - 2  # top, bottom pixel rows inside

        def to_px(v: np.ndarray, lo=lo, hi=hi, y0=y0, y1=y1) -> np.ndarray:
            return y0 + (v - lo) / (hi - lo) * (y1 - y0)  # finite values stay in [y1, y0]

        lines.append((to_px(real[:, d]), to_px(pred[:, d])))
        draw.rectangle([(left, top + i * strip), (width - 1, top + (i + 1) * strip)], outline=GRID)
        lo_text, hi_text = _ticks(lo, hi)
        for text, y in ((hi_text, y1), (lo_text, y0 - text_h + 2)):
            draw.text(
                (left - 2 - draw.textlength(text, font=small), y), text, fill=AXIS, font=small
            )
        if strip >= 3 * text_h:  # room for a dimension label
            name = f"obs[{d}]"
            x = width - 3 - draw.textlength(name, font=small)
            draw.text((x, top + i * strip + 2), name, fill=CURSOR_COLOUR, font=small)
    for step in sorted({0, (T - 1) // 2, T - 1}):  # the time axis: steps at start, middle, end
        text = str(step)
        size = draw.textlength(text, font=small)
        x = min(max(xs[step] - size / 2, left), width - 2 - size)
        draw.line([(xs[step], bottom - 1), (xs[step], bottom + 1)], fill=AXIS)
        draw.text((x, bottom + 1), text, fill=AXIS, font=small)
    draw.text((2, bottom + 1), "step", fill=AXIS, font=small)

    real_width = 2 if height >= 96 else 1  # where the traces agree, the first still shows
    out = np.empty((T, height, width, 3), dtype=np.uint8)
    for t in range(T):
        img = base.copy()
        draw = ImageDraw.Draw(img)
        draw.line([(xs[t], top), (xs[t], bottom)], fill=CURSOR_COLOUR)
        for y_real, y_pred in lines:
            for ys, colour, w in ((y_real, REAL_COLOUR, real_width), (y_pred, PRED_COLOUR, 1)):
                _polyline(draw, xs, ys[: t + 1], colour, w)
        out[t] = np.asarray(img)
    return out


def _polyline(draw: ImageDraw.ImageDraw, xs: np.ndarray, ys: np.ndarray, fill, width: int) -> None:
    """Draw the finite runs of ys (a non-finite value breaks the line)."""
    finite = np.isfinite(ys)
    start = 0
    while start < len(ys):
        if not finite[start]:
            start += 1
            continue
        end = start
        while end + 1 < len(ys) and finite[end + 1]:
            end += 1
        if end == start:
            draw.point([(xs[start], ys[start])], fill=fill)
        else:
            draw.line(list(zip(xs[start : end + 1], ys[start : end + 1], strict=True)), fill=fill,
                      width=width)  # fmt: skip
        start = end + 1
