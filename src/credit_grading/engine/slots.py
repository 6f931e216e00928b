"""Vectorised bin assignment: the scoring core's first step, also used by training.

Slots of a feature with R regular bins: ``0 .. R-1`` regular, ``R`` missing, ``R + 1``
special codes, ``R + 2`` a categorical level never seen in training (offsets in
:mod:`credit_grading.specs.binning`). Regular bins follow optbinning's rule
``splits[i-1] <= x < splits[i]`` (±inf go to the outer bins), computed as the number of
splits a value reaches: one vectorised comparison per split, accumulated in a byte array
(a scorecard feature has a handful of splits, and this beats a binary search). Integer
columns are compared with the splits rounded up, without converting them to floats.
Categorical levels are mapped once per distinct level and the row codes go through that
lookup table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from credit_grading.specs.binning import MISSING, SPECIAL, UNSEEN

__all__ = ["MISSING", "SPECIAL", "UNSEEN", "categorical_slots", "level_lookup", "numeric_slots"]


def _thresholds(splits: np.ndarray, dtype: np.dtype) -> tuple[list, int]:
    """Comparison thresholds for ``x >= s`` in the column's own dtype.

    Returns the thresholds still worth comparing and how many splits every value reaches
    whatever it is (integer columns whose range lies above a split).
    """
    if dtype.kind == "f":
        return [dtype.type(s) if dtype.itemsize >= 8 else float(s) for s in splits], 0
    info = np.iinfo(dtype)
    out, always = [], 0
    for s in splits:
        t = math.ceil(s) if math.isfinite(s) else (info.max + 1 if s > 0 else info.min)
        if t <= info.min:
            always += 1
        elif t <= info.max:
            out.append(dtype.type(t))
    return out, always


def numeric_slots(
    x: np.ndarray,
    splits: np.ndarray,
    special_codes: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    """Slot of every value of a numeric feature.

    ``x`` may be float (NaN is missing) or integer/boolean (with ``missing``, a boolean
    mask, marking nulls). Returns uint8 slots (uint16 for very many bins).
    """
    x = np.asarray(x)
    if x.dtype.kind == "b":
        x = x.view(np.uint8)
    r = len(splits) + 1
    dtype = np.uint8 if r + UNSEEN < 256 else np.uint16
    slots = np.zeros(x.shape, dtype=dtype)
    thresholds, always = _thresholds(np.asarray(splits, dtype=np.float64), x.dtype)
    if always:
        slots += dtype(always)
    scratch = np.empty(x.shape, dtype=bool)
    for t in thresholds:
        np.greater_equal(x, t, out=scratch)
        np.add(slots, scratch.view(np.uint8) if dtype is np.uint8 else scratch, out=slots, casting="unsafe")
    if special_codes is not None and special_codes.size:
        for code in special_codes:
            if x.dtype.kind == "f":
                np.equal(x, code, out=scratch)
            elif float(code).is_integer() and np.iinfo(x.dtype).min <= code <= np.iinfo(x.dtype).max:
                np.equal(x, x.dtype.type(code), out=scratch)
            else:
                continue
            np.putmask(slots, scratch, r + SPECIAL)
    if x.dtype.kind == "f":
        np.not_equal(x, x, out=scratch)  # NaN
        np.putmask(slots, scratch, r + MISSING)
    if missing is not None:
        np.putmask(slots, missing, r + MISSING)
    return slots


def level_lookup(levels: list[object], level_slots: Mapping[str, int], n_regular: int) -> np.ndarray:
    """Lookup table from distinct-level codes to slots; its last entry serves code -1."""
    r = n_regular
    table = np.empty(len(levels) + 1, dtype=np.intp)
    for i, level in enumerate(levels):  # once per distinct level, never per row
        table[i] = r + MISSING if level is None else level_slots.get(str(level), r + UNSEEN)
    table[-1] = r + MISSING
    return table


def categorical_slots(codes: np.ndarray, levels: list[object], level_slots: Mapping[str, int], n_regular: int):
    """Slot of every row of a categorical feature given its codes into ``levels``."""
    return level_lookup(levels, level_slots, n_regular)[codes]
