"""The result table of a chunk, built as Arrow columns straight from codes (no Python per row).

Its columns, their order and Arrow types are the declared result schema
(:mod:`credit_grading.grading.result_schema`) without the reasons' Chinese and English names
(the catalogue has them). Labels (grades, tiers, rules, reason features) are dictionary-encoded,
so the Parquet file stores each once per row group.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from credit_grading.engine.model import ModelResult
from credit_grading.grading.grader import GradingResult
from credit_grading.grading.result_schema import (
    TIER_CODES,
    grade_labels,
    matched_rules,
    override_labels,
    schema_of_scores,
    tier_of_grade,
)


def _dict(codes: np.ndarray, labels: list[str], type_: pa.DictionaryType) -> pa.DictionaryArray:
    index_type = type_.index_type
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(index_type.to_pandas_dtype()), type=index_type,
                   mask=mask if mask.any() else None)  # fmt: skip
    return pa.DictionaryArray.from_arrays(idx, pa.array(labels, type=type_.value_type))


class ResultBuilder:
    """Builds the result table of chunks graded by one model."""

    def __init__(self, model_name: str, model_version: str, grades: tuple[str, ...], tiers: tuple[str, ...],
                 rules: tuple, id_column: str, as_of_column: str | None = None) -> None:  # fmt: skip
        self.model_name, self.model_version = model_name, model_version
        self.grade_labels = grade_labels(grades)
        self.tier_labels = list(TIER_CODES)
        self.tier_of_grade = tier_of_grade(tiers)
        self.rules = rules
        self.rule_labels, self.rule_reasons = override_labels(rules)
        self.id_column, self.as_of_column = id_column, as_of_column

    def table(
        self,
        ids: pa.Array,
        as_of: pa.Array | None,
        scores: ModelResult,
        grading: GradingResult,
        previous: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pa.Table:
        schema = schema_of_scores(
            scores,
            id_column=self.id_column,
            as_of_column=self.as_of_column if as_of is not None else None,
            reason_texts=False,
            held=grading.held is not None,
            previous=previous is not None,
        ).arrow()
        n = len(grading.final_grade)
        cols: dict[str, object] = {self.id_column: ids}
        if self.as_of_column and as_of is not None:
            cols[self.as_of_column] = as_of
        for name in ("score", "pd", "pd_scorecard", "pd_gbm"):
            cols[name] = getattr(scores, name)
        cols["model_grade"] = (grading.model_grade, self.grade_labels)
        cols["model_tier"] = (self.tier_of_grade[grading.model_grade], self.tier_labels)
        cols["grade"] = (grading.final_grade, self.grade_labels)
        cols["tier"] = (self.tier_of_grade[grading.final_grade], self.tier_labels)
        cols["override"] = (grading.decided_by, self.rule_labels)
        cols["override_reason"] = (grading.decided_by, self.rule_reasons)
        cols["override_approver"] = grading.manual_approver if grading.manual_approver is not None else [None] * n
        cols["rules_matched"] = _matched_rules(grading.matched, self.rules)
        cols["grade_held"] = grading.held
        if previous is not None:
            cols["previous_grade"] = (previous[0], self.grade_labels)
            cols["previous_tier"] = (previous[1], self.tier_labels)
        if scores.reason_index is not None:
            for j in range(scores.reason_index.shape[1]):
                idx = scores.reason_index[:, j]
                cols[f"reason_{j + 1}"] = (idx, list(scores.reason_names))
                cols[f"reason_{j + 1}_value"] = pa.array(scores.reason_value[:, j], mask=idx < 0)
        cols["model_name"] = (np.zeros(n, dtype=np.int8), [self.model_name])
        cols["model_version"] = (np.zeros(n, dtype=np.int8), [self.model_version])
        return pa.Table.from_arrays([_column(cols[f.name], f.type) for f in schema], schema=schema)


def _matched_rules(matched: np.ndarray, rules: tuple) -> tuple[np.ndarray, list[str]]:
    """:func:`~credit_grading.grading.result_schema.matched_rules`, the same codes and labels, by a
    count of each bit pattern instead of a sort (the patterns are few and small)."""
    m = np.asarray(matched)
    if m.size == 0 or m.dtype.kind not in "iu" or m.min() < 0 or m.max() >= 1 << 16:
        return matched_rules(matched, rules)
    present = np.flatnonzero(np.bincount(m))
    lut = np.zeros(int(present[-1]) + 1, dtype=np.intp)
    lut[present] = np.arange(present.size)
    return lut[m], matched_rules(present, rules)[1]


def _column(value, type_: pa.DataType) -> pa.Array:
    """A column of the declared type from label codes and labels, an Arrow array or values."""
    if pa.types.is_dictionary(type_):
        return _dict(*value, type_)
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return value
    return pa.array(np.asarray(value) if type_ != pa.string() else value, type=type_)
