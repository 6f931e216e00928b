"""Manual overrides: decisions a supervisor takes by hand, read from a CSV or Parquet file.

Columns: ``uscc``, ``grade`` or ``tier`` (one of them per row; ``M`` for not graded),
``reason``, ``approver``, ``valid_until`` (a date). An override whose ``valid_until`` lies
before the grading date is ignored and reported as expired. Every problem in the file is
reported at once, each with its line number, column and value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading.exceptions import DataError
from credit_grading.registry.io import read_frame
from credit_grading.specs.grading import TIER_ORDER

REQUIRED = ("uscc", "reason", "approver", "valid_until")


@dataclass(frozen=True)
class ManualOverrides:
    """A validated manual-override table (one row per entity)."""

    table: pd.DataFrame  # uscc, grade, tier, reason, approver, valid_until (datetime64)
    source: str = "<table>"

    def active(self, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The overrides in force on ``as_of`` and the expired ones."""
        expired = self.table["valid_until"] < pd.Timestamp(as_of)
        return self.table[~expired], self.table[expired]


def _blank(s: pd.Series) -> pd.Series:
    return s.isna() | (s.astype(str).str.strip() == "")


def manual_overrides_from_frame(
    frame: pd.DataFrame, grades: tuple[str, ...], source: str = "<table>"
) -> ManualOverrides:
    """Validate a manual-override table against the grade names of the scale."""
    cols = [str(c) for c in frame.columns]
    missing = [c for c in REQUIRED if c not in cols]
    if not ("grade" in cols or "tier" in cols):
        missing.append("grade or tier")
    if missing:
        raise DataError(f"manual overrides {source}: missing column(s) {missing}; columns found: {cols}")
    df = frame.copy()
    for c in ("grade", "tier"):
        if c not in df.columns:
            df[c] = None
    line = pd.Series(np.arange(2, len(df) + 2), index=df.index)  # header is line 1
    problems: list[str] = []

    def report(mask: pd.Series, column: str, what: str) -> None:
        for ln, v in zip(line[mask].head(20), df.loc[mask, column].head(20), strict=True):
            problems.append(f"line {ln}, {column} = {v!r}: {what}")

    for c in ("uscc", "reason", "approver"):
        report(_blank(df[c]), c, "must not be empty")
    g_blank, t_blank = _blank(df["grade"]), _blank(df["tier"])
    report(g_blank & t_blank, "grade", "give a grade or a tier")
    report(~g_blank & ~t_blank, "grade", "give a grade or a tier, not both")
    allowed_g = [*grades, "M"]
    report(~g_blank & ~df["grade"].astype(str).str.strip().isin(allowed_g), "grade", f"not one of {allowed_g}")
    allowed_t = [*TIER_ORDER, "M"]
    report(~t_blank & ~df["tier"].astype(str).str.strip().isin(allowed_t), "tier", f"not one of {allowed_t}")
    until = pd.to_datetime(df["valid_until"], errors="coerce", format="mixed")
    report(until.isna(), "valid_until", "not a date (use YYYY-MM-DD)")
    ids = df["uscc"].astype(str).str.strip()
    report(ids.duplicated(keep=False) & ~_blank(df["uscc"]), "uscc", "appears more than once")
    if problems:
        more = "" if len(problems) <= 20 else f" (first 20 of {len(problems)})"
        raise DataError(f"manual overrides {source} have problems{more}:\n  " + "\n  ".join(problems[:20]))
    out = pd.DataFrame(
        {
            "uscc": ids,
            "grade": df["grade"].where(~g_blank).astype(object).str.strip(),
            "tier": df["tier"].where(~t_blank).astype(object).str.strip(),
            "reason": df["reason"].astype(str).str.strip(),
            "approver": df["approver"].astype(str).str.strip(),
            "valid_until": until,
        }
    ).reset_index(drop=True)
    return ManualOverrides(out, source)


def read_manual_overrides(path: Path | str, grades: tuple[str, ...]) -> ManualOverrides:
    """Read and validate a manual-override file (CSV or Parquet)."""
    return manual_overrides_from_frame(read_frame(path, what="manual overrides", text=True), grades, str(path))
