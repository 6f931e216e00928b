"""Grading raw registry rows with a bundle: validate, score, grade — the path every consumer shares.

:class:`BundleGrader` compiles a bundle once and grades tables (or chunks of a stream) under the
registry contract the model was trained with: valid rows come back graded, invalid rows in a
rejects table with their reasons, and rows read = rows graded + rows rejected. The MLflow
model and batch rescoring both call it.

>>> grader = BundleGrader(load_bundle("models/credit_grading_default"))   # doctest: +SKIP
>>> graded, rejects = grader.grade(table)                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_grading.bundle import Bundle
from credit_grading.config import DatasetConfig
from credit_grading.engine.segmented import compile_model
from credit_grading.grading.decide import decide
from credit_grading.grading.manual import ManualOverrides
from credit_grading.lists import Memberships, apply_memberships
from credit_grading.registry.schema import RegistrySchema
from credit_grading.registry.validate import ValidationResult, validate_table


def bundle_schema(bundle: Bundle) -> RegistrySchema:
    """The registry contract of the data the bundle's model was trained on (target optional)."""
    given = {k: v for k, v in bundle.config.get("dataset", {}).items() if k not in ("features", "catalogue", "include")}
    ds = DatasetConfig.model_validate({**given, "catalogue": "builtin"})  # the bundle carries its own catalogue
    return RegistrySchema.from_dataset(ds, bundle.catalogue)


@dataclass
class GradedChunk:
    graded: pd.DataFrame
    rejects: pd.DataFrame
    validation: ValidationResult


class BundleGrader:
    """A bundle compiled once; grades any number of tables or chunks."""

    def __init__(self, bundle: Bundle, *, reasons: int = 3) -> None:
        self.bundle = bundle
        self.schema = bundle_schema(bundle)
        self.compiled = compile_model(bundle.model, bundle.segments)  # sector models route rows by segment
        self.reasons = reasons

    def grade(
        self,
        table: pa.Table | pd.DataFrame,
        *,
        row_offset: int = 0,
        previous: pd.DataFrame | None = None,
        manual: ManualOverrides | None = None,
        carry: tuple[str, ...] = (),
        source: str = "the input table",
        lists: Memberships | None = None,
    ) -> GradedChunk:
        """Validate and grade ``table``; rows numbered from ``row_offset + 1``. ``lists``: dated list
        memberships, joined by key at each row's as-of date for the override rules that name a list."""
        res = validate_table(table, self.schema, row_offset=row_offset, source=source)
        data = apply_memberships(
            res.data, lists, id_column=self.schema.id_column, as_of_column=self.schema.as_of_column
        )
        graded, _ = decide(
            self.bundle.model,
            data,
            id_column=self.schema.id_column,
            as_of_column=self.schema.as_of_column,
            reasons=self.reasons,
            previous=previous,
            manual=manual,
            compiled=self.compiled,
            carry=carry,
        )
        graded.insert(0, "row_number", data.index.to_numpy(dtype=np.int64))
        return GradedChunk(graded, res.rejects, res)

    def predict(self, table: pa.Table | pd.DataFrame) -> pd.DataFrame:
        """One output row per input row, in input order: graded rows with their results,
        rejected rows with ``status = rejected`` and their reasons."""
        n = table.num_rows if isinstance(table, pa.Table) else len(table)
        chunk = self.grade(table)
        out = chunk.graded.set_index("row_number").reindex(pd.RangeIndex(1, n + 1))
        out["status"] = np.where(out.index.isin(chunk.graded["row_number"]), "graded", "rejected")
        out["reject_reasons"] = _joined_reasons(chunk.rejects, n)
        idc = self.schema.id_column
        if isinstance(table, pa.Table) and idc in table.column_names:
            out[idc] = table.column(idc).to_numpy(zero_copy_only=False)
        elif isinstance(table, pd.DataFrame) and idc in table.columns:
            out[idc] = table[idc].to_numpy(dtype=object)
        return out.reset_index(drop=True)


def _joined_reasons(rejects: pd.DataFrame, n: int) -> np.ndarray:
    """Per row (1..n) its reject reason codes joined with ``;`` (None when valid), vectorised per code."""
    out = np.full(n, "", dtype=object)
    if len(rejects):
        pairs = rejects[["row_number", "reason"]].drop_duplicates()
        for code in sorted(pairs["reason"].unique()):
            rows = pairs.loc[pairs["reason"] == code, "row_number"].to_numpy(dtype=np.int64) - 1
            out[rows] = np.where(out[rows] == "", code, out[rows] + ";" + code)
    return np.where(out == "", None, out)
