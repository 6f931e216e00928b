"""Timing helpers shared by the benchmarks (run as scripts, so this folder is on the path)."""

from __future__ import annotations

import time


def timed(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the seconds it took."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def best_of(repeat: int, fn, *args, **kwargs):
    """The result of the last of ``repeat`` calls and the fastest call's seconds."""
    best, out = float("inf"), None
    for _ in range(repeat):
        out, seconds = timed(fn, *args, **kwargs)
        best = min(best, seconds)
    return out, best
