"""Progress reporting for every long phase: a labelled tqdm bar with its real total on a terminal,
plain log lines at a steady rate when stderr is a file or a pipe, nothing with `--no-progress`.

    with progress_bar(total=5000, desc="collect HalfCheetah", unit="step") as bar:
        bar.update(1)

`set_enabled(False)` (what `--no-progress` does) turns every bar off, including ones that callers
asked for. Log lines come every `GENENV_LOG_INTERVAL` seconds (default 30) and once at the end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

_ENABLED = True


def set_enabled(flag: bool) -> None:
    """Turn every progress bar and log line of this process on or off."""
    global _ENABLED
    _ENABLED = bool(flag)


def enabled() -> bool:
    return _ENABLED


def log_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("GENENV_LOG_INTERVAL", "30")))
    except ValueError:
        return 30.0


class LogLines:
    """A tqdm look-alike that prints `[desc] n/total unit (p%) | t s | rate | postfix` lines to
    stderr every `interval` seconds and once when closed; for log files, where a bar is noise."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        interval: float | None = None,
        file: Any = None,
    ):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.interval = log_interval() if interval is None else interval
        self.file = file
        self.n = 0
        self.postfix = ""
        self.start = self._last = time.monotonic()
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable if self.iterable is not None else ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LogLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._print()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kw: Any):
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._print()

    def _print(self) -> None:
        elapsed = time.monotonic() - self.start
        done = f"{self.n:,.0f}"
        if self.total:
            done += f"/{self.total:,.0f} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            done += f" {self.unit}"
        rate = f"{self.n / elapsed:,.1f} {self.unit}/s" if elapsed > 0 else ""
        line = f"[{self.desc}] {done} | {elapsed:.0f} s | {rate}"
        if self.postfix:
            line += f" | {self.postfix}"
        print(line, file=self.file or sys.stderr, flush=True)


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: float | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    leave: bool = True,
    **kwargs: Any,
):
    """A tqdm bar on a terminal, `LogLines` otherwise, a silent tqdm when disabled."""
    from tqdm.auto import tqdm

    if disable or not _ENABLED:
        return tqdm(iterable, total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, **kwargs)
    return LogLines(iterable, total=total, desc=desc, unit=unit)
