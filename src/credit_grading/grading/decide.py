"""Grading a validated registry table end to end: PDs, reasons, grades, tiers, overrides.

:func:`decide` returns one row per entity with the declared result columns
(:mod:`credit_grading.grading.result_schema`): keys, score and PDs, the model grade and tier
beside the final ones, the override with its reason and approver, every rule that matched, the
reasons, the model's name and version.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from credit_grading.engine.model import CompiledModel
from credit_grading.exceptions import DataError
from credit_grading.grading.grader import Grader, GradingResult
from credit_grading.grading.manual import ManualOverrides
from credit_grading.grading.result_schema import schema_of_scores
from credit_grading.specs.model import ModelSpec


def grader_for(model: ModelSpec) -> Grader:
    """The grader a model carries (its scale, override rules and hysteresis margin)."""
    if model.scale is None:
        raise DataError(f"model {model.name!r} has no grade scale; train it with grading enabled")
    features = tuple(f.name for f in model.decider.features)
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
    strata, public items for publication lists). ``previous`` (a former result with the id column,
    ``grade`` and ``tier``) adds ``previous_grade`` and ``previous_tier``; its ``model_grade``
    feeds hysteresis. ``as_of`` defaults to the latest as-of date.
    """
    if id_column not in data.columns:
        raise DataError(f"the table has no id column {id_column!r}")
    absent = [c for c in carry if c not in data.columns]
    if absent:
        raise DataError(f"cannot carry column(s) {absent}: the registry table does not have them")
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
    has_as_of = bool(as_of_column) and as_of_column in data.columns
    schema = schema_of_scores(res, id_column=id_column, as_of_column=as_of_column if has_as_of else None,
                              held=grading.held is not None, previous=prev_grade is not None, carried=carry)  # fmt: skip
    values: dict[str, object] = {id_column: ids}
    if has_as_of:
        values[as_of_column] = data[as_of_column].to_numpy()
    for frame in (res.frame(), grading.frame(), data[[c for c in carry if c not in values]]):
        for c in frame.columns:
            col = frame[c]
            values.setdefault(c, col.values if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy())
    values["previous_grade"], values["previous_tier"] = prev_grade, prev_tier
    values["model_name"], values["model_version"] = model.name, model.version
    out = pd.DataFrame({c: values[c] for c in schema.names}, index=pd.RangeIndex(len(ids)))
    return out, grading
