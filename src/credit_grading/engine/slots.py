"""Vectorised bin assignment: the scoring core's first step, also used by training.

Slots of a feature with R regular bins: ``0 .. R-1`` regular, ``R`` missing, ``R + 1``
special codes, ``R + 2`` a categorical level never seen in training (offsets in
:mod:`credit_grading.specs.binning`). Regular bins follow optbinning's rule
``splits[i-1] <= x < splits[i]`` (±inf go to the outer bins), computed by a compiled
kernel (:mod:`credit_grading.engine.kernels`) in one pass over the rows as the number of
splits a value reaches (a scorecard feature has a handful of splits, and this beats a binary search). Integer
columns are read as they are, with a mask of nulls. Categorical levels are mapped once per distinct level and the row codes go through that
lookup table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from credit_grading.columns import Columns
from credit_grading.engine.kernels import encode_text, numeric_slots_into
from credit_grading.specs.binning import MISSING, SPECIAL, UNSEEN

__all__ = ["MISSING", "SPECIAL", "UNSEEN", "categorical_codes", "categorical_slots", "level_lookup", "numeric_slots"]


def numeric_slots(
    x: np.ndarray,
    splits: np.ndarray,
    special_codes: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    """Slot of every value of a numeric feature (one compiled pass over the rows).

    ``x`` may be float (NaN is missing) or integer/boolean (with ``missing``, a boolean
    mask, marking nulls). Returns uint8 slots (uint16 for very many bins).
    """
    splits = np.ascontiguousarray(splits, dtype=np.float64)
    specials = np.ascontiguousarray(special_codes if special_codes is not None else (), dtype=np.float64)
    out = np.empty(np.shape(x), dtype=np.uint8 if splits.size + 1 + UNSEEN < 256 else np.uint16)
    numeric_slots_into(x, missing, splits, specials, out)
    return out


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


def categorical_codes(cols: Columns, name: str) -> tuple[np.ndarray, list[object]]:
    """A categorical column as codes (-1 for missing) into its distinct levels, as
    :meth:`Columns.categorical <credit_grading.columns.Columns.categorical>` gives them; a
    text column (Arrow strings, pandas ``str``) is encoded from its Arrow buffers by a
    compiled kernel (:func:`~credit_grading.engine.kernels.encode_text`), never row by row
    in Python."""
    text = cols.text_chunks(name)
    if text is not None:
        encoded = encode_text(text)
        if encoded is not None:
            return encoded
    return cols.categorical(name)
