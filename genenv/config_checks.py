"""Checks that config dataclasses run in `__post_init__`, so the Python API and the CLI reject
the same bad values with the same message (a ValueError naming the field)."""

from __future__ import annotations

import math
from typing import Any


def _name(obj: Any, field: str) -> str:
    return f"{type(obj).__name__}.{field}"


def positive_ints(obj: Any, *fields: str, allow_zero: bool = False) -> None:
    """Each field is an int (not a bool) >= 1 (>= 0 with allow_zero)."""
    low = 0 if allow_zero else 1
    for field in fields:
        value = getattr(obj, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            kind = "a non-negative" if allow_zero else "a positive"
            raise ValueError(f"{_name(obj, field)} must be {kind} integer, got {value!r}")


def finite_floats(obj: Any, *fields: str, positive: bool = False, allow_none: bool = False) -> None:
    """Each field is a finite real number (> 0 with positive); None passes with allow_none."""
    for field in fields:
        value = getattr(obj, field)
        if value is None and allow_none:
            continue
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or (positive and value <= 0):
            kind = "a positive finite number" if positive else "a finite number"
            raise ValueError(f"{_name(obj, field)} must be {kind}, got {value!r}")


def one_of(obj: Any, field: str, choices: tuple[Any, ...]) -> None:
    value = getattr(obj, field)
    if value not in choices:
        raise ValueError(f"{_name(obj, field)} must be one of {list(choices)}, got {value!r}")
