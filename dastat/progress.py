"""Progress of long runs: a tqdm bar on a terminal, one plain line every so often in a log.

On a terminal, :func:`progress_bar` is tqdm's bar on stderr. When stderr is not a
terminal (a batch job, ``2> log``), a bar would fill the log with carriage returns, and
no output at all leaves a ten-minute job silent; there it is a :class:`PeriodicLine`,
which prints one line, ``dastat: <what>: 120/512 batch (23%), 31 s, about 104 s left``,
at most every :data:`PERIOD` seconds (``DASTAT_PROGRESS_SECONDS`` overrides it) and
nothing for a run shorter than that.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

#: Seconds between two progress lines when stderr is not a terminal.
PERIOD = 30.0


def _period() -> float:
    try:
        return max(0.0, float(os.environ.get("DASTAT_PROGRESS_SECONDS", PERIOD)))
    except ValueError:
        return PERIOD


class PeriodicLine:
    """tqdm's ``update``/``set_postfix``/``close``, printing one line every ``period`` seconds."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", initial: int = 0,
                 period: float | None = None, file: TextIO | None = None, clock=time.monotonic):
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.period = _period() if period is None else period
        self.file, self.clock = file, clock
        self.start = self.last = clock()
        self.initial, self.postfix = initial, ""

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.period:
            self.last = now
            print(self.line(now), file=self.file or sys.stderr, flush=True)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def line(self, now: float) -> str:
        elapsed = now - self.start
        done = f"{self.n:,}/{self.total:,} {self.unit}" if self.total else f"{self.n:,} {self.unit}"
        text = f"dastat: {self.desc}: {done}"
        if self.total:
            text += f" ({100 * self.n / self.total:.0f}%)"
        text += f", {elapsed:.0f} s"
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0
        if self.total and rate > 0 and self.n < self.total:
            text += f", about {(self.total - self.n) / rate:.0f} s left"
        return text + (f" ({self.postfix})" if self.postfix else "")

    def close(self) -> None:
        """Nothing to clear: each line was complete."""


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, initial: int = 0, unit: str = "it"):
    """A progress display on stderr for ``total`` steps, or None when not ``enabled``: tqdm's bar on a terminal,
    else a :class:`PeriodicLine`."""
    if not enabled:
        return None
    if not sys.stderr.isatty():
        return PeriodicLine(total, desc, unit=unit, initial=initial)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, dynamic_ncols=True, file=sys.stderr)
