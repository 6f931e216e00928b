"""Explaining decisions: every feature's contribution for the rows that need a report.

:func:`explain_table` validates and grades a registry table with a bundle, then computes, for
the selected rows and every feature of the deciding model, the contribution that pushes risk
up: the exact TreeSHAP value (GBM; log-odds) or the points shortfall against the feature's best
bin (scorecard; points). Everything is vectorised over rows; only the report rendering that
follows loops over entities.

Typical values are taken among the tier-A entities of the same table (median of a numeric item,
most frequent level of a categorical one); a table with no tier-A entity falls back to the
best bin of the scorecard's binning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_grading.bundle import Bundle
from credit_grading.catalogue import ItemType
from credit_grading.engine.scorecard import CompiledScorecard
from credit_grading.exceptions import DataError
from credit_grading.lists import Memberships
from credit_grading.service import BundleGrader


@dataclass
class ExplainResult:
    bundle: Bundle
    graded: pd.DataFrame  # the result rows (all valid rows), indexed 0..n-1
    data: pd.DataFrame  # the validated registry rows, same order
    rows: np.ndarray  # positions (in graded) of the rows explained
    features: tuple[str, ...]
    contributions: np.ndarray  # (len(rows), features): risk-raising contribution
    kind: str  # "shap" (log-odds) or "points_shortfall"
    base: np.ndarray  # per explained row: expected value (GBM) or best possible score (scorecard)
    typical: dict[str, object]  # feature → typical value among tier-A entities
    rejects: pd.DataFrame


def _feature_spec(bundle: Bundle):
    m = bundle.model
    return m.decider


def typical_values(data: pd.DataFrame, tiers: np.ndarray, features, bundle: Bundle) -> dict[str, object]:
    """Median (numeric) or most frequent level (categorical) of each feature among tier-A rows."""
    good = tiers == "A"
    cat = bundle.catalogue
    out: dict[str, object] = {}
    for f in features:
        col = data[f]
        if good.any():
            part = col[good]
            if isinstance(col.dtype, pd.CategoricalDtype):
                counts = part.value_counts()
                out[f] = str(counts.index[0]) if len(counts) and counts.iloc[0] > 0 else None
            else:
                v = part.median()
                out[f] = None if pd.isna(v) else float(v)
        else:
            out[f] = _best_bin_label(bundle, f)
        if isinstance(out[f], float) and f in cat and cat.item(f).type is ItemType.FLAG:
            out[f] = float(round(out[f]))
    return out


def _best_bin_label(bundle: Bundle, feature: str):
    card = bundle.model.scorecard
    if card is None:
        return None
    for f in card.features:
        if f.name == feature:
            best = int(np.argmax(f.points))
            return f.binning.bins[best].label
    return None


def explain_table(
    bundle: Bundle,
    table: pa.Table | pd.DataFrame,
    *,
    uscc: str | list[str] | None = None,
    tier: str | None = None,
    all_rows: bool = False,
    reasons: int = 5,
    ids: str | list[str] | None = None,
    lists: Memberships | None = None,
) -> ExplainResult:
    """Grade ``table`` and explain the selected entities (by id — ``ids``, or ``uscc`` for
    unified social credit codes — by final tier, or all); ``lists``: dated list memberships the
    override rules read (:func:`credit_grading.lists.apply_memberships`)."""
    uscc = ids if ids is not None else uscc
    grader = BundleGrader(bundle, reasons=reasons)
    label = grader.schema.id_label
    if sum(x is not None and x is not False for x in (uscc, tier, all_rows or None)) != 1:
        raise DataError(f"choose the entities to explain: a {label}, a tier, or all")
    chunk = grader.grade(table, lists=lists)
    graded = chunk.graded.reset_index(drop=True)
    data = chunk.validation.data.reset_index(drop=True)
    idc = grader.schema.id_column
    if uscc is not None:
        wanted = [uscc] if isinstance(uscc, str) else list(uscc)
        given = graded[idc].astype(str)
        rows = np.flatnonzero(given.isin([str(w) for w in wanted]).to_numpy())
        missing = sorted({str(w) for w in wanted} - set(given.iloc[rows]))
        if missing:
            rejected = chunk.rejects
            why = ""
            if len(rejected):
                codes = set(rejected.loc[rejected["value"].astype(str).isin(missing), "reason"])
                why = f" (rejected: {', '.join(sorted(codes))})" if codes else ""
            raise DataError(f"no graded entity with {label} {', '.join(missing)} in the input{why}")
    elif tier is not None:
        rows = np.flatnonzero(graded["tier"].astype(str).to_numpy() == tier)
    else:
        rows = np.arange(len(graded))
    compiled = grader.compiled
    sub = data.iloc[rows]
    features = tuple(f.name for f in _feature_spec(bundle).features)
    if bundle.segments is not None:  # sector models: each row explained by its own segment's model
        features, contributions, base, kind = compiled.explain(sub)
    elif bundle.model.champion == "gbm":
        phi = compiled.gbm.contributions(compiled.gbm.matrix(sub))
        contributions, base, kind = phi[:, :-1], phi[:, -1], "shap"
    else:
        card: CompiledScorecard = compiled.scorecard
        res = card.score(sub, points=True)
        best = np.array([max(f.points) for f in bundle.model.scorecard.features])
        contributions = best[None, :] - res.points
        base = np.full(len(rows), best.sum())
        kind = "points_shortfall"
    typical = typical_values(data, graded["tier"].astype(str).to_numpy(), features, bundle)
    return ExplainResult(bundle, graded, data, rows, features, np.ascontiguousarray(contributions), kind,
                         np.asarray(base, dtype=np.float64), typical, chunk.rejects)  # fmt: skip
