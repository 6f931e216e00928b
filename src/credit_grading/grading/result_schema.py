"""The grading result table, declared once: its columns in order, their types and meanings.

Every grading output is built from this declaration — the pandas grader
(:func:`~credit_grading.grading.decide.decide`, hence :class:`~credit_grading.service.BundleGrader`),
the Arrow batch writer (:class:`~credit_grading.batch.output.ResultBuilder`, the Parquet file of
``rescore``) and Spark's output schema (:func:`~credit_grading.spark.output_schema`). A row is::

    [row_number] <id> [<as_of>] [score] pd [pd_scorecard] [pd_gbm]
    model_grade model_tier grade tier override override_reason override_approver rules_matched
    [grade_held] [previous_grade previous_tier]
    reason_1 reason_1_value [reason_1_zh reason_1_en] … reason_k …
    model_name model_version [carried registry columns …] [status reject_reasons]

Each column has one Arrow ``type``: the type of the batch Parquet file. Labels (grades, tiers,
rules, reason features, the model's name) are dictionary-encoded there, so the file stores each
label once per row group; Spark, which has no dictionary type, gets the plain value type
(:meth:`ResultSchema.plain`). The pandas grader holds the labels of a fixed set (grades, tiers,
rules) as categoricals and other text as strings: that is the column's ``pandas`` kind.
``nullable`` says whether a *graded* row may leave the column empty. The files keep every field
nullable, as the one-row-per-input outputs (``predict``, Spark) also hold rejected rows, whose
results are empty.

This module also holds the labels those columns share: the tier codes, the tier of each
grade, the override labels and the matched-rules text.

>>> s = result_schema(reasons=1, reason_texts=False)
>>> s.names[:4]
('uscc', 'as_of', 'score', 'pd')
>>> str(s.arrow().field("grade").type), str(s.plain().field("grade").type)
('dictionary<values=string, indices=int8, ordered=0>', 'string')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from credit_grading.config.grading import STATUS_M, OverrideRule
from credit_grading.engine.model import ModelResult
from credit_grading.exceptions import DataError
from credit_grading.specs.grading import TIER_ORDER
from credit_grading.specs.model import ModelSpec

TIER_CODES = (*TIER_ORDER, STATUS_M)  # the labels of every tier column
MANUAL = "manual"  # the override label of a manual override
MODELS = ("scorecard", "gbm")  # the models a result may carry a PD of, in column order

_LABEL = pa.dictionary(pa.int8(), pa.string())  # a label from a short list (grades, tiers, rules)
_LONG_LABEL = pa.dictionary(pa.int16(), pa.string())  # a label from a longer list (rule sets, features)


@dataclass(frozen=True)
class ResultColumn:
    """One column of the result table."""

    name: str
    type: pa.DataType | None  # Arrow type in the batch file; None: as in the registry (carried)
    pandas: str | None  # pandas kind: "int", "text", "date", "float", "category", "bool"; None: as in the registry
    nullable: bool
    meaning: str


@dataclass(frozen=True)
class ResultSchema:
    """The columns of one result table, in order."""

    columns: tuple[ResultColumn, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def __iter__(self) -> Iterator[ResultColumn]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, name: str) -> ResultColumn:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow(self) -> pa.Schema:
        """The Arrow schema of the batch file (every field nullable; see the module docstring)."""
        untyped = [c.name for c in self.columns if c.type is None]
        if untyped:
            raise DataError(f"result column(s) {untyped} carry a registry type that this schema does not know")
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    def plain(self) -> pa.Schema:
        """The Arrow schema with labels as plain text (for Spark)."""
        return pa.schema(
            [pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in self.arrow()]
        )


def result_schema(
    *,
    id_column: str = "uscc",
    as_of_column: str | None = "as_of",
    score: bool = True,
    pds: Sequence[str] = MODELS,
    reasons: int = 3,
    reason_texts: bool = True,
    held: bool = False,
    previous: bool = False,
    carried: Sequence[str] = (),
    row_number: bool = False,
    status: bool = False,
) -> ResultSchema:
    """The result columns of a grading, in order.

    ``score``: the scorecard's points are there; ``pds``: the models (of :data:`MODELS`) whose
    own PD is there; ``reasons``: how many reason columns; ``reason_texts``: each reason also
    named in Chinese and English; ``held``: hysteresis was on; ``previous``: a former grading
    was given; ``carried``: registry columns copied beside the results; ``row_number``: the
    input row of each result (:meth:`BundleGrader.grade`); ``status``: one row per input row,
    rejected ones included (``predict``, Spark).
    """
    cols: list[ResultColumn] = []

    def add(name: str, type_: pa.DataType | None, pandas: str | None, nullable: bool, meaning: str) -> None:
        cols.append(ResultColumn(name, type_, pandas, nullable, meaning))

    if row_number:
        add("row_number", pa.int64(), "int", False, "1-based row of the input table")
    add(id_column, pa.string(), "text", False, "the entity's key")
    if as_of_column:
        add(as_of_column, pa.date32(), "date", False, "the snapshot date of the registry row")
    if score:
        add("score", pa.float64(), "float", False, "scorecard points (higher: safer)")
    add("pd", pa.float64(), "float", False, "12-month probability of default of the deciding model")
    unknown = [m for m in pds if m not in MODELS]
    if unknown:
        raise DataError(f"no PD column for model(s) {unknown}; the models are {list(MODELS)}")
    for m in MODELS:
        if m in pds:
            add(f"pd_{m}", pa.float64(), "float", False, f"12-month probability of default of the {m}")
    add("model_grade", _LABEL, "category", False, "grade on the master scale from the PD alone (M: not graded)")
    add("model_tier", _LABEL, "category", False, "supervision tier of the model grade (A–D, M)")
    add("grade", _LABEL, "category", False, "final grade after override rules and manual overrides")
    add("tier", _LABEL, "category", False, "final supervision tier (A–D, M)")
    add("override", _LABEL, "category", True, "the rule id (or 'manual') that changed the decision last")
    add("override_reason", _LABEL, "text", True, "why: the rule's label, or a manual override's reason")
    add("override_approver", pa.string(), "text", True, "who approved the manual override")
    add("rules_matched", _LONG_LABEL, "category", False, "ids of every rule that matched, joined with ';'")
    if held:
        add("grade_held", pa.bool_(), "bool", False, "hysteresis kept the previous model grade")
    if previous:
        add("previous_grade", _LABEL, "text", True, "final grade in the previous grading (empty: new entity)")
        add("previous_tier", _LABEL, "text", True, "final tier in the previous grading (empty: new entity)")
    for j in range(1, reasons + 1):
        add(f"reason_{j}", _LONG_LABEL, "text", True, f"the feature that raised the risk most, rank {j}")
        add(f"reason_{j}_value", pa.float64(), "float", True, f"its contribution (log-odds or points), rank {j}")
        if reason_texts:
            add(f"reason_{j}_zh", pa.string(), "text", True, f"the rank-{j} feature's Chinese name")
            add(f"reason_{j}_en", pa.string(), "text", True, f"the rank-{j} feature's English name")
    add("model_name", _LABEL, "text", False, "name of the model that graded")
    add("model_version", _LABEL, "text", False, "version of that model")
    taken = {c.name for c in cols}
    for c in dict.fromkeys(carried):
        if c not in taken:
            add(c, None, None, True, "registry item copied as it is")
    if status:
        add("status", pa.string(), "text", False, "graded or rejected")
        add("reject_reasons", pa.string(), "text", True, "reason codes of a rejected row, joined with ';'")
    return ResultSchema(tuple(cols))


def schema_of_scores(scores: ModelResult, **options) -> ResultSchema:
    """The result columns of a grading whose scores are ``scores`` (``options``: of :func:`result_schema`)."""
    k = 0 if scores.reason_index is None else scores.reason_index.shape[1]
    pds = tuple(m for m in MODELS if getattr(scores, f"pd_{m}") is not None)
    return result_schema(score=scores.score is not None, pds=pds, reasons=k, **options)


def schema_of_model(model: ModelSpec, **options) -> ResultSchema:
    """The result columns of grading with ``model``, the challenger scored too (as ``decide`` does)."""
    pds = tuple(m for m in MODELS if m in model.calibration)
    return result_schema(score=model.scorecard is not None, pds=pds, **options)


def grade_labels(grades: Sequence[str]) -> list[str]:
    """The labels of a grade column: the scale's grades, then status M."""
    return [*grades, STATUS_M]


def tier_of_grade(tiers: Sequence[str]) -> np.ndarray:
    """Per grade index (the last: status M) the index of its tier in :data:`TIER_CODES`."""
    return np.array([TIER_CODES.index(t) for t in tiers] + [TIER_CODES.index(STATUS_M)])


def override_labels(rules: Sequence[OverrideRule]) -> tuple[list[str], list[str]]:
    """The labels of ``override`` and ``override_reason`` per decider (rule r, then manual)."""
    return [r.id for r in rules] + [MANUAL], [r.label_en or r.id for r in rules] + ["manual override"]


def matched_rules(matched: np.ndarray, rules: Sequence[OverrideRule]) -> tuple[np.ndarray, list[str]]:
    """The ``rules_matched`` column as codes into its labels: the ids of the rules whose bit is
    set in ``matched`` (bit r: rule r), joined with ``;``."""
    uniq, inv = np.unique(matched, return_inverse=True)
    names = [";".join(r.id for i, r in enumerate(rules) if int(u) >> i & 1) for u in uniq]
    if len(set(names)) != len(names):  # cannot happen with distinct rule ids, but stay safe
        raise DataError("duplicate rule ids in the matched-rules column")
    return inv, names
