"""Progress of a training run: one line per step, live bars on a terminal for the long ones.

:class:`TrainingProgress` is what the command line opens around a training run. Each step
(``progress.step("gbm")``) prints one line, ``[ 6/13] gbm (+17.6 s)`` (an optional step a run leaves out
is announced as skipped, so the count holds); on a terminal a live
display also shows the step's elapsed time and, for the steps that loop, a bar: binning per
feature, GBM boosting rounds with the validation metric, bootstrap resamples. Off a terminal
(logs, CI, pipes) nothing but the step lines is printed; with ``quiet`` not even those.

Library code reports its loops through :func:`task`, which does nothing unless a live
:class:`TrainingProgress` is open in this context — so a notebook or a test calling the same
functions sees no output and pays nothing::

    with task("binning", total=len(features)) as t:
        for f in features:
            ...
            t.advance(item=f.id)
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator, Sequence

_ACTIVE: contextvars.ContextVar[TrainingProgress | None] = contextvars.ContextVar("credit_grading_progress",
                                                                                   default=None)  # fmt: skip


class Task:
    """A loop's progress: ``advance(n, **fields)`` after each unit of work."""

    def __init__(self, bar=None, task_id=None) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, n: int = 1, **fields: object) -> None:
        if self._bar is not None:
            info = "  ".join(f"{k} {v}" for k, v in fields.items())
            self._bar.update(self._id, advance=n, info=info)


_NULL = Task()


@contextlib.contextmanager
def task(description: str, total: int | None = None) -> Iterator[Task]:
    """A bar under the live display of the open :class:`TrainingProgress`, or a no-op."""
    progress = _ACTIVE.get()
    if progress is None or progress.bar is None:
        yield _NULL
        return
    bar = progress.bar
    tid = bar.add_task(f"  {description}", total=total, info="")
    try:
        yield Task(bar, tid)
    finally:
        bar.remove_task(tid)


class TrainingProgress:
    """Step lines and live bars of one training run (a context manager; see the module docstring).

    ``console`` is a rich console (stdout by default); ``live`` forces the bars on or off (default:
    on when the console is a terminal); ``quiet`` prints nothing at all.
    """

    def __init__(self, steps: Sequence[str], *, console=None, quiet: bool = False, live: bool | None = None,
                 optional: Sequence[str] = ()) -> None:  # fmt: skip
        from rich.console import Console

        self.steps = list(steps)
        self.optional = set(optional)  # steps a run may leave out: announced as skipped when passed
        self._last = -1  # index of the last step announced
        self.console = console or Console(highlight=False, emoji=False)
        self.quiet = quiet
        self.live = (not quiet) and (self.console.is_terminal if live is None else live)
        self.bar = None
        self.t0 = time.perf_counter()
        self._step_task = None
        self._token = None

    def __enter__(self) -> TrainingProgress:
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=self.console, transient=True,
            )  # fmt: skip
            self.bar.start()
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.reset(self._token)
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def step(self, name: str) -> None:
        """Announce a step of :attr:`steps` as it starts."""
        if self.quiet:
            return
        n = self.steps.index(name) + 1 if name in self.steps else 0
        elapsed = f"[dim](+{time.perf_counter() - self.t0:.1f} s)[/dim]"
        if n:  # optional steps this run passed without announcing: skipped (the count stays true)
            for i in range(self._last + 1, n - 1):
                if self.steps[i] in self.optional:
                    self.console.print(f"[{i + 1:>2}/{len(self.steps)}] {self.steps[i]} — skipped {elapsed}")
            self._last = n - 1
        self.console.print(f"[{n:>2}/{len(self.steps)}] {name} {elapsed}")
        if self.bar is not None:
            if self._step_task is not None:
                self.bar.remove_task(self._step_task)
            self._step_task = self.bar.add_task(name, total=None, info="")
