"""The result table of a chunk, built as Arrow columns straight from codes (no Python per row).

Columns: ``uscc, as_of, score, pd, pd_scorecard, pd_gbm, model_grade, model_tier, grade, tier,
override, override_reason, rules_matched, [previous_grade, previous_tier,] reason_1 …
reason_k, reason_1_value … reason_k_value, model_name, model_version``. Labels (grades, tiers,
rules, reason features) are dictionary-encoded, so the Parquet file stores each once per row
group.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from credit_grading.config.grading import STATUS_M
from credit_grading.engine.model import ModelResult
from credit_grading.grading.grader import MANUAL, TIER_CODES, GradingResult


def _dict(codes: np.ndarray, labels: list[str], index_type: pa.DataType | None = None) -> pa.DictionaryArray:
    index_type = index_type or pa.int16()
    codes = np.asarray(codes)
    mask = codes < 0
    idx = pa.array(np.where(mask, 0, codes).astype(index_type.to_pandas_dtype()), type=index_type,
                   mask=mask if mask.any() else None)  # fmt: skip
    return pa.DictionaryArray.from_arrays(idx, pa.array(labels, type=pa.string()))


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int8)), pa.array([value]))


class ResultBuilder:
    """Builds the result table of chunks graded by one model."""

    def __init__(self, model_name: str, model_version: str, grades: tuple[str, ...], tiers: tuple[str, ...],
                 rules: tuple, id_column: str = "uscc", as_of_column: str | None = "as_of") -> None:  # fmt: skip
        self.model_name, self.model_version = model_name, model_version
        self.grade_labels = [*grades, STATUS_M]
        self.tier_labels = list(TIER_CODES)
        self.tier_of_grade = np.array([TIER_CODES.index(t) for t in tiers] + [TIER_CODES.index(STATUS_M)])
        self.rules = rules
        self.rule_labels = [r.id for r in rules] + [MANUAL]
        self.rule_reasons = [r.label_en or r.id for r in rules] + ["manual override"]
        self.id_column, self.as_of_column = id_column, as_of_column

    def table(
        self,
        ids: pa.Array,
        as_of: pa.Array | None,
        scores: ModelResult,
        grading: GradingResult,
        previous: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pa.Table:
        n = len(grading.final_grade)
        cols: dict[str, pa.Array] = {self.id_column: ids}
        if self.as_of_column and as_of is not None:
            cols[self.as_of_column] = as_of
        for name in ("score", "pd", "pd_scorecard", "pd_gbm"):
            v = getattr(scores, name)
            if v is not None:
                cols[name] = pa.array(np.asarray(v, dtype=np.float64))
        cols["model_grade"] = _dict(grading.model_grade, self.grade_labels, pa.int8())
        cols["model_tier"] = _dict(self.tier_of_grade[grading.model_grade], self.tier_labels, pa.int8())
        cols["grade"] = _dict(grading.final_grade, self.grade_labels, pa.int8())
        cols["tier"] = _dict(self.tier_of_grade[grading.final_grade], self.tier_labels, pa.int8())
        cols["override"] = _dict(grading.decided_by, self.rule_labels, pa.int8())
        cols["override_reason"] = _dict(grading.decided_by, self.rule_reasons, pa.int8())
        uniq, inv = np.unique(grading.matched, return_inverse=True)
        names = [";".join(r.id for i, r in enumerate(self.rules) if int(u) >> i & 1) for u in uniq]
        cols["rules_matched"] = _dict(inv, names, pa.int16())
        if grading.held is not None:
            cols["grade_held"] = pa.array(grading.held)
        if previous is not None:
            cols["previous_grade"] = _dict(previous[0], self.grade_labels, pa.int8())
            cols["previous_tier"] = _dict(previous[1], self.tier_labels, pa.int8())
        if scores.reason_index is not None:
            names = list(scores.reason_names)
            for j in range(scores.reason_index.shape[1]):
                idx = scores.reason_index[:, j]
                cols[f"reason_{j + 1}"] = _dict(idx, names, pa.int16())
                val = scores.reason_value[:, j]
                cols[f"reason_{j + 1}_value"] = pa.array(val, mask=idx < 0)
        cols["model_name"] = _constant(self.model_name, n)
        cols["model_version"] = _constant(self.model_version, n)
        return pa.table(cols)
