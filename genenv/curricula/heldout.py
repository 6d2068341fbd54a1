"""Held-out evaluation worlds drawn by a seeded procedure from a region outside the training ranges.

The region, in words: every held-out world moves `outside` of the task's context fields (chosen at
random) past the edge of its training range, above or below at random, by a factor drawn uniformly
in [1 + margin_low, 1 + margin_high] of that edge (clipped to the field's validity bounds, and
redrawn on the other side when the clip would land back inside the range); every other field is
uniform inside its training range. So no held-out world lies inside the training box, and none
can equal a seed world (seed levels are clipped into the ranges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genenv.worlds.spec import CONTEXT_FIELDS, Context, WorldSpec
from genenv.worlds.tasks import get_task


@dataclass(frozen=True)
class HeldOutRegion:
    """Where held-out worlds come from (see the module docstring)."""

    outside: int = 2  # fields past their training-range edge per world
    margin_low: float = 0.1  # smallest relative distance past the edge
    margin_high: float = 0.4  # largest relative distance past the edge

    def describe(self) -> str:
        return (
            f"{self.outside} context field(s) per world outside the training range, past the "
            f"upper edge x[{1 + self.margin_low:g}, {1 + self.margin_high:g}] or the lower edge "
            f"/[{1 + self.margin_low:g}, {1 + self.margin_high:g}] (side and fields at random); "
            "the other fields uniform inside the training range"
        )


def _outside_value(lo: float, hi: float, name: str, up: bool, factor: float) -> float | None:
    _, valid_lo, valid_hi, _ = CONTEXT_FIELDS[name]
    value = min(hi * factor, valid_hi) if up else max(lo / factor, valid_lo)
    return value if (value > hi or value < lo) else None


def draw_heldout_worlds(
    task: str, n: int, seed: int, region: HeldOutRegion | None = None
) -> list[WorldSpec]:
    """`n` held-out worlds for `task` (deterministic given `seed`)."""
    region = region or HeldOutRegion()
    info = get_task(task)
    ranges = dict(info.train_ranges)
    names = list(ranges)
    if not 1 <= region.outside <= len(names):
        raise ValueError(f"outside must be in 1..{len(names)}, got {region.outside}")
    rng = np.random.default_rng(seed)
    worlds = []
    for _ in range(n):
        values = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}
        for name in rng.choice(names, size=region.outside, replace=False):
            lo, hi = ranges[str(name)]
            up = bool(rng.random() < 0.5)
            factor = float(rng.uniform(1 + region.margin_low, 1 + region.margin_high))
            value = _outside_value(lo, hi, str(name), up, factor)
            if value is None:  # clipped back into the range on that side: the other side
                value = _outside_value(lo, hi, str(name), not up, factor)
            values[str(name)] = round(float(value), 3)
        values = {k: round(v, 3) for k, v in values.items()}
        worlds.append(WorldSpec(info.name, Context.from_dict(values)))
    return worlds


def inside_ranges(spec: WorldSpec, ranges: dict[str, tuple[float, float]]) -> bool:
    """Whether every ranged field of `spec` lies inside its range (the training box)."""
    return all(lo <= getattr(spec.context, k) <= hi for k, (lo, hi) in ranges.items())
