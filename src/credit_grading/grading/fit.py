"""Fitting grade cut-offs on a development sample, and the grade table of any sample.

:func:`fit_scale` chooses the PD cut-offs of the configured grades by dynamic programming
over PD quantile groups. Among all cut-offs where

* every grade holds at least ``min_count`` entities and at most ``max_share`` of them,
* observed bad rates strictly increase from the best grade to the worst, and
* each grade's bad rate exceeds the better neighbour's significantly (one-sided two-proportion
  test at level ``alpha``),

it picks the one with the highest binomial log-likelihood of the outcomes given each grade's
bad rate — the grades that separate goods from bads best. The constraints only tie adjacent
grades together, so the search over (previous cut, cut) pairs is exact.

:func:`grade_table` reports count, share, bads, observed bad rate, mean PD, PD band and the
Jeffreys and binomial p-values per grade, with the Herfindahl index of the shares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.config.grading import CutoffMethod, GradingConfig
from credit_grading.exceptions import DataError
from credit_grading.specs.grading import GradeScaleSpec
from credit_grading.stats import binomial_pvalue, hhi, jeffreys_pvalue, two_proportion_pvalue


def _prebins(pd_sorted: np.ndarray, prebins: int) -> np.ndarray:
    """Upper PD bound of each quantile group but the last (actual PD values, so no group is empty)."""
    n = len(pd_sorted)
    idx = np.unique(np.clip((np.arange(1, prebins) * n) // prebins - 1, 0, n - 1))
    b = np.unique(pd_sorted[idx])
    return b[b < pd_sorted[-1]]


def _loglik(d: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = d / n
        ll = np.where(d > 0, d * np.log(p), 0.0) + np.where(n - d > 0, (n - d) * np.log1p(-p), 0.0)
    return np.where(n > 0, ll, -np.inf)


def _search(counts: np.ndarray, bads: np.ndarray, k: int, min_count: int, max_count: float, alpha: float):
    """Best split of the groups into ``k`` contiguous grades; the grade start indices, or None."""
    m = len(counts)
    c = np.concatenate([[0], np.cumsum(counts)]).astype(np.float64)
    b = np.concatenate([[0], np.cumsum(bads)]).astype(np.float64)
    n_seg = c[None, :] - c[:, None]  # [i, j]: groups i..j-1
    d_seg = b[None, :] - b[:, None]
    upper = np.triu(np.ones((m + 1, m + 1), dtype=bool), 1)
    feasible = upper & (n_seg >= min_count) & (n_seg <= max_count)
    ll = np.where(feasible, _loglik(d_seg, np.where(upper, n_seg, 1.0)), -np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(upper, d_seg / n_seg, np.nan)

    best = np.full((m + 1, m + 1), -np.inf)
    best[0, :] = ll[0, :]
    backs = []
    for _ in range(k - 1):
        new = np.full((m + 1, m + 1), -np.inf)
        back = np.zeros((m + 1, m + 1), dtype=np.int32)
        for j in range(1, m):
            prev = best[:, j]  # over i: grades ending with [i, j)
            live = np.isfinite(prev)
            nxt = feasible[j, :]
            if not live.any() or not nxt.any():
                continue
            ii = np.flatnonzero(live)
            ll_ = np.flatnonzero(nxt)
            p = two_proportion_pvalue(d_seg[ii, j][:, None], n_seg[ii, j][:, None], d_seg[j, ll_][None, :],
                                      n_seg[j, ll_][None, :])  # fmt: skip
            ok = (rate[ii, j][:, None] < rate[j, ll_][None, :]) & (p < alpha)
            cand = np.where(ok, prev[ii][:, None] + ll[j, ll_][None, :], -np.inf)
            arg = cand.argmax(axis=0)
            new[j, ll_] = cand[arg, np.arange(len(ll_))]
            back[j, ll_] = ii[arg]
        best = new
        backs.append(back)
    last = best[:, m]
    if not np.isfinite(last).any():
        return None
    i = int(np.argmax(last))
    starts = [i]
    j = m
    for back in reversed(backs):
        i, j = int(back[i, j]), i
        starts.append(i)
    return starts[::-1]  # starts[0] == 0


def fit_scale(pd_values, y, config: GradingConfig) -> GradeScaleSpec:
    """The master scale of ``config``: fixed cut-offs, or cut-offs fitted on (``pd_values``, ``y``)."""
    names, tiers = config.grade_names, config.grade_tiers
    if config.cutoffs == CutoffMethod.FIXED:
        cuts = tuple(float(g.pd_max) for g in config.grades[:-1])
        scale = GradeScaleSpec(names, tiers, cuts, method="fixed")
        if pd_values is None:
            return scale
        table = grade_table(scale, pd_values, y)
        return GradeScaleSpec(names, tiers, cuts, "fixed", records(table), _meta(table, len(table)))
    pd_arr = np.asarray(pd_values, dtype=np.float64)
    y_arr = np.asarray(y, dtype=np.float64)
    if pd_arr.shape != y_arr.shape or pd_arr.ndim != 1:
        raise DataError("fitting grade cut-offs needs one PD and one outcome per row")
    fit = config.fit
    order = np.argsort(pd_arr, kind="mergesort")
    ps, ys = pd_arr[order], y_arr[order]
    bounds = _prebins(ps, fit.prebins)
    groups = np.searchsorted(bounds, ps, side="left")
    counts = np.bincount(groups, minlength=len(bounds) + 1)
    bads = np.bincount(groups, weights=ys, minlength=len(bounds) + 1)
    k = len(names)
    starts = _search(counts, bads, k, fit.min_count, fit.max_share * len(ps), fit.alpha)
    if starts is None:
        raise DataError(
            f"cannot fit {k} grades on {len(ps):,} rows with {int(ys.sum()):,} bads: no cut-offs give every grade "
            f"at least {fit.min_count} entities and at most {fit.max_share:.0%} of them with bad rates that rise "
            f"significantly (alpha {fit.alpha}) from grade to grade; use fewer grades, a smaller "
            "grading.fit.min_count, a larger grading.fit.alpha, more data, or grading.cutoffs: fixed"
        )
    cuts = tuple(float(bounds[s - 1]) for s in starts[1:])
    scale = GradeScaleSpec(names, tiers, cuts, method="fitted")
    table = grade_table(scale, pd_arr, y_arr)
    meta = _meta(table, len(ps)) | {"fit": fit.model_dump(mode="json"), "prebins_used": len(bounds) + 1}
    return GradeScaleSpec(names, tiers, cuts, "fitted", records(table), meta)


def records(table: pd.DataFrame) -> tuple[dict, ...]:
    """The table as JSON-ready records (NaN becomes null, numpy scalars plain numbers)."""
    recs = table.astype(object).where(table.notna(), None).to_dict("records")
    return tuple({k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in recs)


def _meta(table: pd.DataFrame, rows: int) -> dict:
    return {"rows": int(rows), "bads": int(table["bads"].sum()), "hhi": hhi(table["count"].to_numpy())}


def grade_table(scale: GradeScaleSpec, pd_values, y=None) -> pd.DataFrame:
    """Per grade: count, share, bads, bad rate, mean PD, PD band and calibration p-values.

    ``y`` may be omitted (no outcomes yet): the outcome columns are then left out.
    ``p_vs_better`` is the one-sided p-value that the grade's bad rate exceeds the better
    neighbour's.
    """
    pd_arr = np.asarray(pd_values, dtype=np.float64)
    g = scale.grade_index(pd_arr)
    k = scale.n_grades
    count = np.bincount(g, minlength=k).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_pd = np.bincount(g, weights=pd_arr, minlength=k) / count
    bands = scale.bands()
    out = pd.DataFrame(
        {
            "grade": list(scale.grades),
            "tier": list(scale.tiers),
            "pd_min": [b[0] for b in bands],
            "pd_max": [b[1] for b in bands],
            "count": count,
            "share": count / max(len(pd_arr), 1),
            "mean_pd": mean_pd,
        }
    )
    if y is not None:
        y_arr = np.asarray(y, dtype=np.float64)
        bads = np.bincount(g, weights=y_arr, minlength=k).round().astype(np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["bads"] = bads
            out["bad_rate"] = bads / count
        out["jeffreys_p"] = np.where(count > 0, jeffreys_pvalue(bads, count, mean_pd), np.nan)
        out["binomial_p"] = np.where(count > 0, binomial_pvalue(bads, count, mean_pd), np.nan)
        p_adj = two_proportion_pvalue(bads[:-1], count[:-1], bads[1:], count[1:])
        out["p_vs_better"] = np.concatenate([[np.nan], p_adj])
    return out
