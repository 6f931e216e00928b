"""Vectorised bin assignment: the scoring core's first step, also used by training.

Slots of a feature with R regular bins: ``0 .. R-1`` regular, ``R`` missing, ``R + 1``
special codes, ``R + 2`` a categorical level never seen in training. Numeric values are
binned with one ``searchsorted`` against the splits followed by a NaN sentinel, which
sends NaN to the missing slot without a mask; regular bins follow optbinning's rule
(``splits[i-1] <= x < splits[i]``, ±inf to the outer bins). Categorical levels are mapped
once per distinct level and the row codes go through that lookup table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from credit_grading.specs.binning import MISSING, SPECIAL, UNSEEN

__all__ = ["MISSING", "SPECIAL", "UNSEEN", "categorical_slots", "level_lookup", "numeric_slots"]


def numeric_slots(x: np.ndarray, splits: np.ndarray, special_codes: np.ndarray | None = None) -> np.ndarray:
    """Slot of every value of a numeric feature (see the module docstring)."""
    r = splits.size + 1
    sentinel = np.empty(splits.size + 1, dtype=np.float64)
    sentinel[:-1] = splits
    sentinel[-1] = np.nan
    slots = np.searchsorted(sentinel, x, side="right")  # NaN -> splits.size + 1 == r (missing)
    if special_codes is not None and special_codes.size:
        slots[np.isin(x, special_codes)] = r + SPECIAL
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
