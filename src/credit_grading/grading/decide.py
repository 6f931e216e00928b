"""Grading a validated registry table end to end: PDs, reasons, grades, tiers, overrides.

:func:`decide` returns one row per entity with the result columns every consumer relies on
(``uscc, as_of, score, pd, grade, tier, override, reason_1..k, model_name, model_version``)
plus the model grade and tier beside the final ones, the override's reason and approver and
every rule that matched.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from credit_grading.engine.model import CompiledModel
from credit_grading.exceptions import DataError
from credit_grading.grading.grader import Grader, GradingResult
from credit_grading.grading.manual import ManualOverrides
from credit_grading.specs.model import ModelSpec


def grader_for(model: ModelSpec) -> Grader:
    """The grader a model carries (its scale, override rules and hysteresis margin)."""
    if model.scale is None:
        raise DataError(f"model {model.name!r} has no grade scale; train it with grading enabled")
    spec = model.gbm if model.champion == "gbm" else model.scorecard
    features = tuple(f.name for f in spec.features) if spec is not None else ()
    return Grader(model.scale, model.overrides, features=features, hysteresis_margin=model.hysteresis_margin)


def decide(
    model: ModelSpec,
    data: pd.DataFrame,
    *,
    id_column: str = "uscc",
    as_of_column: str | None = "as_of",
    reasons: int = 3,
    previous: pd.DataFrame | None = None,
    manual: ManualOverrides | None = None,
    as_of: dt.date | None = None,
    compiled: CompiledModel | None = None,
    carry: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, GradingResult]:
    """Score and grade ``data``; the result table and the grading details.

    ``carry`` names registry columns copied to the result (e.g. district for inspection
    strata, public items for publication lists). ``previous`` (a former result with ``uscc``,
    ``grade`` and ``tier``) adds ``previous_grade`` and ``previous_tier``; its ``model_grade``
    feeds hysteresis. ``as_of`` defaults to the latest as-of date.
    """
    if id_column not in data.columns:
        raise DataError(f"the table has no id column {id_column!r}")
    engine = compiled or CompiledModel(model)
    res = engine.score(data, reasons=reasons)
    ids = data[id_column].to_numpy(dtype=object)
    if as_of is None and as_of_column and as_of_column in data.columns and len(data):
        as_of = pd.Timestamp(data[as_of_column].max()).date()
    prev_grade = prev_tier = prev_model_grade = None
    if previous is not None:
        missing = [c for c in (id_column, "grade", "tier") if c not in previous.columns]
        if missing:
            raise DataError(f"the previous grading has no column(s) {missing}")
        p = previous.drop_duplicates(id_column).set_index(id_column)
        pos = p.index.get_indexer(pd.Index(ids))
        found = pos >= 0
        at = np.where(found, pos, 0)
        prev_grade = np.where(found, p["grade"].astype(object).to_numpy()[at], None)
        prev_tier = np.where(found, p["tier"].astype(object).to_numpy()[at], None)
        # Hysteresis keeps the model grade steady; overrides are decided afresh each time.
        prev_model = p["model_grade"] if "model_grade" in p.columns else p["grade"]
        prev_model_grade = np.where(found, prev_model.astype(object).to_numpy()[at], None)
    grading = grader_for(model).grade(
        data, res.pd, ids=ids, previous_grade=prev_model_grade, manual=manual, as_of=as_of
    )
    cols: dict[str, object] = {id_column: ids}
    if as_of_column and as_of_column in data.columns:
        cols[as_of_column] = data[as_of_column].to_numpy()
    out = pd.DataFrame(cols)
    scores = res.frame()
    for c in ("score", "pd", "pd_scorecard", "pd_gbm"):
        if c in scores.columns:
            out[c] = scores[c].to_numpy()
    decisions = grading.frame()
    for c in decisions.columns:
        out[c] = (
            decisions[c].to_numpy() if not isinstance(decisions[c].dtype, pd.CategoricalDtype) else decisions[c].values
        )
    if prev_grade is not None:
        out["previous_grade"] = prev_grade
        out["previous_tier"] = prev_tier
    for c in scores.columns:
        if c.startswith("reason_"):
            out[c] = scores[c].to_numpy()
    out["model_name"] = model.name
    out["model_version"] = model.version
    absent = [c for c in carry if c not in data.columns]
    if absent:
        raise DataError(f"cannot carry column(s) {absent}: the registry table does not have them")
    for c in carry:
        if c not in out.columns:
            col = data[c]
            out[c] = col.values if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy()
    return out, grading
