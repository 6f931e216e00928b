"""Override conditions evaluated over whole columns.

:func:`condition_mask` turns a :class:`~credit_grading.config.grading.Condition` into one
boolean per row of a validated registry table: numeric and flag columns compare as numbers
(a missing value never satisfies a comparison), categorical columns compare by level code.
A rule that names a column the table lacks, a level the item does not have, or compares a
categorical item by size fails with a message naming the rule.

Lists with dates (:mod:`credit_grading.lists`): a rule names a list as the item ``list:<name>``
(``{item: "list:r120000_serious_untrustworthy", eq: 1}``; or ``{list: <name>}`` where the config
knows that form), read from the column :func:`~credit_grading.lists.apply_memberships` adds —
1 while a membership is active at the row's as-of date. A rule on a statutory list's flag column
(``serious_untrustworthy_flag`` …) reads the flag or the active membership of that list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.config.grading import Condition
from credit_grading.config.policy import SupervisionPolicy
from credit_grading.exceptions import ConfigError, DataError
from credit_grading.lists import LIST_OF_FLAG, LIST_PREFIX, Memberships, list_column, negative_records

_NUMERIC_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


def _column(data: pd.DataFrame, item: str, rule: str, what: str = "override rule") -> pd.Series:
    if item.startswith(LIST_PREFIX) and item not in data.columns:
        raise ConfigError(
            f"{what} {rule!r} names list {item.removeprefix(LIST_PREFIX)!r}, which no memberships file "
            "given has; give the memberships that list it (--lists) or drop the rule"
        )
    listed = list_column(LIST_OF_FLAG[item]) if item in LIST_OF_FLAG else None
    if listed is not None and listed in data.columns and item in data.columns:
        # The registry's flag, or an active membership of its list.
        flag = data[item].to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.Series(np.where(data[listed].to_numpy() == 1, 1.0, flag), index=data.index, name=item)
    if item not in data.columns:
        raise ConfigError(
            f"{what} {rule!r} tests item {item!r}, which the graded table does not have; "
            "fix the rule under grading.overrides or drop it"
        )
    return data[item]


def _levels(col: pd.Series, values, item: str, rule: str, what: str = "override rule") -> np.ndarray:
    cats = list(col.cat.categories)
    codes = []
    for v in values:
        if str(v) not in cats:
            raise ConfigError(f"{what} {rule!r}: item {item!r} has no level {v!r}; its levels are {cats}")
        codes.append(cats.index(str(v)))
    return np.asarray(codes)


def _number(v, item: str, rule: str, op: str, what: str = "override rule") -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {rule!r}: {item} {op} {v!r} needs a number") from None


def condition_mask(
    cond: Condition,
    data: pd.DataFrame,
    *,
    rule: str = "?",
    features: tuple[str, ...] = (),
    what: str = "override rule",
) -> np.ndarray:
    """Rows of ``data`` meeting ``cond`` (vectorised; missing values fail comparisons); messages name
    ``what`` and ``rule`` (an override rule, or an incentive's eligibility)."""
    n = len(data)
    if cond.all is not None:
        out = np.ones(n, dtype=bool)
        for c in cond.all:
            out &= condition_mask(c, data, rule=rule, features=features, what=what)
        return out
    if cond.any is not None:
        out = np.zeros(n, dtype=bool)
        for c in cond.any:
            out |= condition_mask(c, data, rule=rule, features=features, what=what)
        return out
    if cond.missing_at_least is not None:
        present = [f for f in features if f in data.columns]
        if not present:
            raise ConfigError(f"{what} {rule!r} counts missing features, but the table has none of them")
        missing = np.zeros(n, dtype=np.int32)
        for f in present:
            missing += data[f].isna().to_numpy()
        return missing >= cond.missing_at_least

    named = getattr(cond, "list_", None)  # the {list: name} form, where the config defines it
    if named is not None:
        return _column(data, list_column(named), rule, what).to_numpy() == 1
    item = cond.item
    col = _column(data, item, rule, what)
    (op,) = cond.ops
    value = getattr(cond, op)
    if op == "missing":
        isna = col.isna().to_numpy()
        return isna if value else ~isna
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        if op in _NUMERIC_OPS:
            raise ConfigError(f"{what} {rule!r}: categorical item {item!r} cannot be compared with {op}")
        wanted = _levels(col, value if op == "in_" else [value], item, rule, what)
        hit = np.isin(codes, wanted)
        return ~hit & (codes >= 0) if op == "ne" else hit
    x = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if op == "in_":
        return np.isin(x, [_number(v, item, rule, "in", what) for v in value])
    v = _number(value, item, rule, op, what)
    if op == "eq":
        return x == v
    if op == "ne":
        return (x != v) & ~np.isnan(x)
    return _NUMERIC_OPS[op](x, v)


def _listed_now(items: pd.DataFrame) -> np.ndarray:
    """Rows on a list at their as-of date as the table shows it: a statutory flag or a ``list:*`` column is 1."""
    out = np.zeros(len(items), dtype=bool)
    for c in items.columns:
        if c in LIST_OF_FLAG or str(c).startswith(LIST_PREFIX):
            out |= items[c].to_numpy(dtype=np.float64, na_value=np.nan) == 1
    return out


def incentive_eligibility(
    policy: SupervisionPolicy,
    grades: pd.DataFrame,
    *,
    items: pd.DataFrame | None = None,
    memberships: Memberships | None = None,
    id_column: str | None = None,
    as_of_column: str | None = None,
    as_of=None,
) -> pd.DataFrame:
    """One boolean column per incentive of ``policy``: whether each graded row is eligible (vectorised).

    ``grades`` gives the final ``tier`` (and the key and as-of date when ``memberships`` are given);
    ``items`` (aligned to ``grades``; default ``grades`` itself) gives the statutory flags, ``list:*``
    columns and the items an eligibility condition tests. A negative record is a list membership active
    at some day of the ``clean_years`` before the as-of date, or a list flag at the as-of date.
    """
    items = grades if items is None else items
    if len(items) != len(grades):
        raise DataError(f"{len(items)} item rows for {len(grades)} graded rows")
    out = pd.DataFrame(index=grades.index)
    if not policy.incentives:
        return out
    if "tier" not in grades.columns:
        raise DataError("the grades table has no column 'tier'; incentives are granted by tier")
    tier = grades["tier"].astype(str).to_numpy()
    now = _listed_now(items)
    recent: dict[float, np.ndarray] = {}
    if memberships is not None:
        if id_column is None or id_column not in grades.columns:
            raise DataError(f"list memberships are joined by the id column {id_column!r}, which the grades lack")
        when = grades[as_of_column].to_numpy() if as_of_column and as_of_column in grades.columns else as_of
        years = sorted({i.eligibility.clean_years for i in policy.incentives.values() if i.eligibility.clean_years > 0})
        listed, recent = negative_records(memberships, grades[id_column], when, years)
        now |= listed
    for code, inc in policy.incentives.items():
        e = inc.eligibility
        ok = np.isin(tier, list(e.tiers))
        if e.no_active_list or e.clean_years > 0:
            ok &= ~now
        if e.clean_years > 0 and memberships is not None:
            ok &= ~recent[e.clean_years]
        if e.when is not None:
            ok &= condition_mask(e.when, items, rule=code, what="incentive")
        out[code] = ok
    return out


def incentive_codes(eligible: pd.DataFrame) -> np.ndarray:
    """Per row the codes of the incentives it is eligible for, joined with ``;`` (``""`` when none)."""
    out = np.full(len(eligible), "", dtype=object)
    for code in eligible.columns:
        hit = eligible[code].to_numpy(dtype=bool)
        out[hit] = np.where(out[hit] == "", code, out[hit] + ";" + code)
    return out
