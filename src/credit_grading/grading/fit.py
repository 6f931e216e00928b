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

With ``grading.fit.grades: auto`` (the default) a scale the data cannot support in full is
fitted with the largest number of grades it can (:func:`scale_subset` keeps at least one grade
of every tier and every grade an override rule names), and the scale's ``meta["grades"]``
says which constraint stopped one more grade.

The PDs given should be out of sample (validation rows or out-of-fold predictions: see
:class:`~credit_grading.config.grading.FitSample`): fitted on the rows a model trained on, the
grades hold more of new data than ``max_share``.

:func:`grade_table` reports count, share, bads, observed bad rate, mean PD, PD band and the
Jeffreys and binomial p-values per grade, with the Herfindahl index of the shares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.config.grading import CutoffMethod, GradeCount, GradingConfig
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


def scale_subset(config: GradingConfig, k: int) -> list[int]:
    """Indices of the ``k`` configured grades a smaller scale keeps: every tier keeps at least one
    grade (and every grade an override rule names); grades are dropped one at a time from the
    tier holding the most (the better tier first on a tie); a tier keeping one grade keeps its
    worst, keeping several keeps its first and last and evenly spaced ones between.

    >>> from credit_grading.config.grading import GradingConfig
    >>> [GradingConfig().grade_names[i] for i in scale_subset(GradingConfig(), 6)]
    ['A', 'BB', 'B', 'CCC', 'CC', 'C']
    """
    names, tiers = config.grade_names, config.grade_tiers
    order = list(dict.fromkeys(tiers))
    members = {t: [i for i, x in enumerate(tiers) if x == t] for t in order}
    named = {r.then.grade or r.then.no_better_than_grade for r in config.overrides} - {None}
    keep = {t: len(ix) for t, ix in members.items()}
    floor = {t: max(1, sum(names[i] in named for i in ix)) for t, ix in members.items()}
    while sum(keep.values()) > k:
        cands = [t for t in order if keep[t] > floor[t]]
        if not cands:
            break
        t = max(cands, key=lambda t: (keep[t], -order.index(t)))
        keep[t] -= 1
    out = []
    for t, ix in members.items():
        must = [i for i in ix if names[i] in named]
        m = keep[t]
        if m == len(ix):
            pick = ix
        elif m == 1:
            pick = must or [ix[-1]]
        else:
            pick = sorted(set(must) | {ix[round(p)] for p in np.linspace(0, len(ix) - 1, m)})
            while len(pick) > m:  # evenly spaced choices met a named grade: drop a free inner one
                pick.remove(next(i for i in pick[1:-1] if i not in must))
        out.extend(pick)
    return sorted(out)


def min_grades(config: GradingConfig) -> int:
    """The fewest grades a scale can have: one per tier, and every grade an override rule names."""
    return len(scale_subset(config, 1))


def _binding(counts, bads, k: int, fit, rows: int) -> list[str]:
    """The constraints that, relaxed one at a time, would let ``k`` grades be fitted."""
    tries = {
        f"min_count ({fit.min_count} entities per grade)": (1, fit.max_share * rows, fit.alpha),
        f"max_share ({fit.max_share:.0%} of the rows per grade)": (fit.min_count, float(rows), fit.alpha),
        f"alpha (adjacent grades' bad rates differ at level {fit.alpha})": (fit.min_count, fit.max_share * rows, 1.0),
    }
    out = [name for name, (mc, mx, a) in tries.items() if _search(counts, bads, k, mc, mx, a) is not None]
    if out:
        return out
    if _search(counts, bads, k, 1, float(rows), 1.0) is not None:
        return ["min_count, max_share and alpha together"]
    return ["rising bad rates (too few bads to order more grades)"]


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
    full = len(names)
    lowest = full if fit.grades == GradeCount.ALL else min_grades(config)
    starts, k = None, full
    for k in range(full, lowest - 1, -1):
        starts = _search(counts, bads, k, fit.min_count, fit.max_share * len(ps), fit.alpha)
        if starts is not None:
            break
    if starts is None:
        fewer = "" if lowest == full else f" (nor any number down to {lowest}, one grade per tier)"
        raise DataError(
            f"cannot fit {full} grades{fewer} on {len(ps):,} rows with {int(ys.sum()):,} bads: no cut-offs give every "
            f"grade at least {fit.min_count} entities and at most {fit.max_share:.0%} of them with bad rates that rise "
            f"significantly (alpha {fit.alpha}) from grade to grade; use fewer grades, a smaller "
            "grading.fit.min_count, a larger grading.fit.alpha, more data, or grading.cutoffs: fixed"
        )
    count = {"mode": str(fit.grades), "configured": full, "fitted": k}
    if k < full:
        keep = scale_subset(config, k)
        names, tiers = tuple(names[i] for i in keep), tuple(tiers[i] for i in keep)
        binding = _binding(counts, bads, k + 1, fit, len(ps))
        count |= {"kept": list(names), "binding": binding,
                  "reason": f"{k + 1} grades cannot be fitted on {len(ps):,} rows with {int(ys.sum()):,} bads; "
                            f"the constraint that stops them: {'; '.join(binding)}"}  # fmt: skip
    cuts = tuple(float(bounds[s - 1]) for s in starts[1:])
    scale = GradeScaleSpec(names, tiers, cuts, method="fitted")
    table = grade_table(scale, pd_arr, y_arr)
    meta = _meta(table, len(ps)) | {"fit": fit.model_dump(mode="json"), "prebins_used": len(bounds) + 1}
    if fit.grades == GradeCount.AUTO:
        meta["grades"] = count
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
