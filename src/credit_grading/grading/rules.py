"""Override conditions evaluated over whole columns.

:func:`condition_mask` turns a :class:`~credit_grading.config.grading.Condition` into one
boolean per row of a validated registry table: numeric and flag columns compare as numbers
(a missing value never satisfies a comparison), categorical columns compare by level code.
A rule that names a column the table lacks, a level the item does not have, or compares a
categorical item by size fails with a message naming the rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.config.grading import Condition
from credit_grading.exceptions import ConfigError

_NUMERIC_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


def _column(data: pd.DataFrame, item: str, rule: str) -> pd.Series:
    if item not in data.columns:
        raise ConfigError(
            f"override rule {rule!r} tests item {item!r}, which the graded table does not have; "
            "fix the rule under grading.overrides or drop it"
        )
    return data[item]


def _levels(col: pd.Series, values, item: str, rule: str) -> np.ndarray:
    cats = list(col.cat.categories)
    codes = []
    for v in values:
        if str(v) not in cats:
            raise ConfigError(f"override rule {rule!r}: item {item!r} has no level {v!r}; its levels are {cats}")
        codes.append(cats.index(str(v)))
    return np.asarray(codes)


def _number(v, item: str, rule: str, op: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"override rule {rule!r}: {item} {op} {v!r} needs a number") from None


def condition_mask(
    cond: Condition, data: pd.DataFrame, *, rule: str = "?", features: tuple[str, ...] = ()
) -> np.ndarray:
    """Rows of ``data`` meeting ``cond`` (vectorised; missing values fail comparisons)."""
    n = len(data)
    if cond.all is not None:
        out = np.ones(n, dtype=bool)
        for c in cond.all:
            out &= condition_mask(c, data, rule=rule, features=features)
        return out
    if cond.any is not None:
        out = np.zeros(n, dtype=bool)
        for c in cond.any:
            out |= condition_mask(c, data, rule=rule, features=features)
        return out
    if cond.missing_at_least is not None:
        present = [f for f in features if f in data.columns]
        if not present:
            raise ConfigError(f"override rule {rule!r} counts missing features, but the table has none of them")
        missing = np.zeros(n, dtype=np.int32)
        for f in present:
            missing += data[f].isna().to_numpy()
        return missing >= cond.missing_at_least

    item = cond.item
    col = _column(data, item, rule)
    (op,) = cond.ops
    value = getattr(cond, op)
    if op == "missing":
        isna = col.isna().to_numpy()
        return isna if value else ~isna
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        if op in _NUMERIC_OPS:
            raise ConfigError(f"override rule {rule!r}: categorical item {item!r} cannot be compared with {op}")
        wanted = _levels(col, value if op == "in_" else [value], item, rule)
        hit = np.isin(codes, wanted)
        return ~hit & (codes >= 0) if op == "ne" else hit
    x = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if op == "in_":
        return np.isin(x, [_number(v, item, rule, "in") for v in value])
    v = _number(value, item, rule, op)
    if op == "eq":
        return x == v
    if op == "ne":
        return (x != v) & ~np.isnan(x)
    return _NUMERIC_OPS[op](x, v)
