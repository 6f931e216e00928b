"""Progress of a long job: a live bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``update(rows)`` after each chunk; ``close()`` at the end.

    On a terminal: a bar with rows, rows/s and ETA (rich). Elsewhere (logs, CI, pipes): one
    line at most every ``every`` seconds and a last one at the end.
    """

    def __init__(self, total: int | None, *, label: str = "rows", stream: TextIO | None = None,
                 live: bool | None = None, every: float = 5.0, start: int = 0) -> None:  # fmt: skip
        self.stream = stream or sys.stderr
        self.total = total
        self.done = start
        self.start_rows = start
        self.label = label
        self.every = every
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.live = self.stream.isatty() if live is None else live
        self._bar = None
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, completed=start, rate="-")

    def rate(self) -> float:
        secs = time.perf_counter() - self.t0
        return (self.done - self.start_rows) / secs if secs > 0 else 0.0

    def update(self, rows: int) -> None:
        self.done += rows
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=f"{self.rate():,.0f}")
        elif now - self.last >= self.every:
            self.last = now
            self._line()
            self._printed = self.done

    def _line(self) -> None:
        of = f" of {self.total:,}" if self.total else ""
        eta = ""
        if self.total and self.rate() > 0:
            eta = f", about {max(self.total - self.done, 0) / self.rate():.0f} s left"
        print(f"{self.label}: {self.done:,}{of} ({self.rate():,.0f} rows/s{eta})", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif getattr(self, "_printed", None) != self.done:
            self._line()
