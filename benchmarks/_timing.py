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


def interleaved(repeat: int, fns: dict) -> dict[str, float]:
    """Best seconds of each callable over ``repeat`` rounds, the callables taking turns in each
    round (so a busy spell on a shared machine hits them alike)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], timed(fn)[1])
    return best


def verdict(ratio: float, target: float, at_least: bool) -> str:
    ok = ratio >= target if at_least else ratio <= target
    return f"(target {'≥' if at_least else '≤'} x{target:g}: {'met' if ok else 'NOT met'})"


def reference_config(config):
    """``config`` with the 400-tree × 31-leaf GBM the issues' reference figures use."""
    gbm = config.gbm.model_copy(update={"num_leaves": 31, "max_depth": -1, "learning_rate": 0.05,
                                        "n_estimators": 400, "early_stopping_rounds": 0})  # fmt: skip
    return config.model_copy(update={"gbm": gbm})
