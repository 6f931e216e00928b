"""Random-inspection plans (双随机、一公开): random entities, random inspectors.

:func:`draw_inspection_plan` draws, within every stratum (the tier, optionally crossed with
district, industry or any other column), ``round(ratio × entities)`` entities at the tier's
inspection ratio from the supervision policy, the tier's quota shared among its sub-strata
by largest remainder. Entities that already had the tier's maximum inspections this year
(counted from previous plans) are left out of the draw and reported. Each drawn entity gets
``inspectors_per_entity`` distinct inspectors chosen at random from the roster, never one
who inspected it in a previous plan.

The plan depends only on the set of entities, the roster, the policy and the seed — not on
the order of the input rows — so the same inputs always give the same plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_grading.config.policy import POLICY_TIERS, SupervisionPolicy
from credit_grading.exceptions import DataError

# Random keys per block of (entities × inspectors): bounds memory on large rosters.
_BLOCK_CELLS = 4_000_000


@dataclass
class InspectionPlan:
    plan: pd.DataFrame  # uscc, tier, strata..., inspector_1..k, plan_date, seed
    summary: pd.DataFrame  # per tier: entities, eligible, ratio, target, drawn
    workload: pd.DataFrame  # per inspector: entities assigned


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    if total <= 0 or weights.sum() == 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    base = np.floor(exact).astype(np.int64)
    short = total - int(base.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - base)))  # ties: first stratum first
    base[order[:short]] += 1
    return np.minimum(base, weights.astype(np.int64))


def _inspector_columns(frame: pd.DataFrame) -> list[str]:
    return sorted((c for c in frame.columns if str(c).startswith("inspector_")), key=lambda c: int(str(c)[10:]))


def draw_inspection_plan(
    grades: pd.DataFrame,
    policy: SupervisionPolicy,
    inspectors: pd.DataFrame,
    *,
    seed: int,
    by: tuple[str, ...] = (),
    previous: pd.DataFrame | None = None,
    inspectors_per_entity: int = 2,
    plan_date: dt.date | None = None,
    id_column: str = "uscc",
) -> InspectionPlan:
    """Draw a stratified random-inspection plan and assign inspectors."""
    for col in (id_column, "tier", *by):
        if col not in grades.columns:
            raise DataError(f"the grades table has no column {col!r}; columns: {list(grades.columns)}")
    if "inspector_id" not in inspectors.columns:
        raise DataError(f"the inspector roster needs an 'inspector_id' column; columns: {list(inspectors.columns)}")
    if inspectors_per_entity < 2:
        raise DataError("double random inspection needs at least two inspectors per entity")
    roster = inspectors["inspector_id"].astype(str).str.strip()
    dup = roster[roster.duplicated()].unique().tolist()
    if dup:
        raise DataError(f"the inspector roster repeats inspector_id(s) {dup[:10]}")
    if len(roster) < inspectors_per_entity:
        raise DataError(f"the roster has {len(roster)} inspector(s); each entity needs {inspectors_per_entity}")
    plan_date = plan_date or dt.date.today()

    g = grades[[id_column, "tier", *by]].copy()
    g[id_column] = g[id_column].astype(str)
    if g[id_column].duplicated().any():
        first = g.loc[g[id_column].duplicated(), id_column].iloc[0]
        raise DataError(f"the grades table lists entity {first} more than once")
    g["tier"] = g["tier"].astype(str)
    bad = ~g["tier"].isin(POLICY_TIERS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"row {row + 1} of the grades table has tier {g['tier'].iloc[row]!r}; tiers are {POLICY_TIERS}")
    g = g.sort_values(id_column, kind="mergesort").reset_index(drop=True)

    # Inspections already done this year (previous plans).
    done = pd.Series(0, index=pd.Index(g[id_column]))
    forbidden: pd.DataFrame | None = None
    if previous is not None:
        if id_column not in previous.columns:
            raise DataError(f"the previous plan has no column {id_column!r}")
        prev = previous.copy()
        prev[id_column] = prev[id_column].astype(str)
        cols = _inspector_columns(prev)
        if not cols:
            raise DataError("the previous plan has no inspector_1, inspector_2, ... columns")
        forbidden = prev.melt(id_vars=[id_column], value_vars=cols, value_name="inspector_id")[
            [id_column, "inspector_id"]
        ]
        forbidden = forbidden.dropna()
        this_year = prev
        if "plan_date" in prev.columns:
            this_year = prev[pd.to_datetime(prev["plan_date"]).dt.year == plan_date.year]
        counts = this_year[id_column].value_counts()
        done = counts.reindex(g[id_column]).fillna(0).astype(np.int64)
    max_per_year = g["tier"].map({t: policy.tier(t).max_inspections_per_year for t in POLICY_TIERS})
    eligible = done.to_numpy() < max_per_year.to_numpy()

    # Strata and quotas (per tier at the tier's ratio, shared among sub-strata).
    strata = g.groupby(["tier", *by], observed=True, sort=True).ngroup().to_numpy()
    st = (
        g.assign(_s=strata, _e=eligible)
        .groupby("_s")
        .agg(tier=("tier", "first"), n=("_e", "size"), eligible=("_e", "sum"))
    )
    quota = np.zeros(len(st), dtype=np.int64)
    summary_rows = []
    for tier in POLICY_TIERS:
        idx = np.flatnonzero(st["tier"].to_numpy() == tier)
        n_tier = int(st["n"].to_numpy()[idx].sum())
        ratio = policy.tier(tier).inspection_ratio
        target = int(_round_half_up(np.array([ratio * n_tier]))[0])
        elig = st["eligible"].to_numpy()[idx]
        take = min(target, int(elig.sum()))
        quota[idx] = _largest_remainder(take, st["n"].to_numpy()[idx].astype(np.float64)) if len(idx) else 0
        # a sub-stratum may not have enough eligible entities: hand the rest to the others
        quota[idx] = _fill(quota[idx], elig, take)
        summary_rows.append({"tier": tier, "entities": n_tier, "eligible": int(elig.sum()), "ratio": ratio,
                             "target": target, "drawn": int(quota[idx].sum())})  # fmt: skip

    rng = np.random.default_rng(seed)
    key = rng.random(len(g))
    key = np.where(eligible, key, np.inf)
    order = np.lexsort((key, strata))
    starts = np.searchsorted(strata[order], np.arange(len(st)))
    rank = np.empty(len(g), dtype=np.int64)
    rank[order] = np.arange(len(g)) - starts[strata[order]]
    chosen = (rank < quota[strata]) & eligible
    plan = g[chosen].reset_index(drop=True)

    assigned = _assign(plan[id_column].to_numpy(dtype=object), roster.to_numpy(dtype=object), forbidden,
                       inspectors_per_entity, rng, id_column)  # fmt: skip
    for j in range(inspectors_per_entity):
        plan[f"inspector_{j + 1}"] = assigned[:, j]
    plan["plan_date"] = plan_date.isoformat()
    plan["seed"] = seed
    workload = (
        pd.Series(assigned.ravel()).value_counts().reindex(roster, fill_value=0).rename_axis("inspector_id")
        .rename("entities").reset_index()
    )  # fmt: skip
    return InspectionPlan(plan, pd.DataFrame(summary_rows), workload)


def _fill(quota: np.ndarray, eligible: np.ndarray, take: int) -> np.ndarray:
    q = np.minimum(quota, eligible)
    short = take - int(q.sum())
    while short > 0:
        room = eligible - q
        if room.sum() == 0:
            break
        give = _largest_remainder(min(short, int(room.sum())), room.astype(np.float64))
        q += give
        short = take - int(q.sum())
    return q


def _assign(ids, roster, forbidden, k, rng, id_column) -> np.ndarray:
    """``k`` distinct inspectors per entity, uniformly at random, avoiding forbidden pairs."""
    n, m = len(ids), len(roster)
    out = np.empty((n, k), dtype=object)
    pairs_r = pairs_c = np.zeros(0, dtype=np.int64)
    if forbidden is not None and len(forbidden):
        r = pd.Index(ids).get_indexer(forbidden[id_column].to_numpy(dtype=object))
        c = pd.Index(roster).get_indexer(forbidden["inspector_id"].astype(str).to_numpy(dtype=object))
        ok = (r >= 0) & (c >= 0)
        pairs_r, pairs_c = r[ok], c[ok]
    block = max(1, _BLOCK_CELLS // m)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        keys = rng.random((hi - lo, m))
        sel = (pairs_r >= lo) & (pairs_r < hi)
        keys[pairs_r[sel] - lo, pairs_c[sel]] = np.inf
        pick = np.argpartition(keys, k - 1, axis=1)[:, :k]
        picked = np.take_along_axis(keys, pick, axis=1)
        pick = np.take_along_axis(pick, np.argsort(picked, axis=1), axis=1)
        if not np.isfinite(np.take_along_axis(keys, pick, axis=1)).all():
            row = lo + int(np.flatnonzero(~np.isfinite(np.take_along_axis(keys, pick, axis=1)).all(axis=1))[0])
            raise DataError(
                f"entity {ids[row]} cannot get {k} inspectors who did not inspect it before: the roster is too small"
            )
        out[lo:hi] = roster[pick]
    return out
