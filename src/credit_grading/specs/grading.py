"""The master scale as plain data: grades, their supervision tiers and PD cut-offs.

Grade ``i`` (0 = best) holds the PDs in ``(cutoffs[i-1], cutoffs[i]]``; the first grade
starts at 0 and the last ends at 1. Tiers never improve as grades worsen. A fitted scale
also carries the grade table of the sample it was fitted on.

>>> s = GradeScaleSpec(("A1", "B1", "C1"), ("A", "B", "D"), (0.01, 0.05))
>>> s.grade_index([0.001, 0.01, 0.02, 0.9]).tolist()
[0, 0, 1, 2]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from credit_grading.exceptions import BundleError
from credit_grading.specs._io import JsonSpec, check_format

FORMAT = "credit_grading.grade_scale"
FORMAT_VERSION = 1
TIER_ORDER = ("A", "B", "C", "D")


@dataclass(frozen=True)
class GradeScaleSpec(JsonSpec):
    grades: tuple[str, ...]
    tiers: tuple[str, ...]  # the tier of each grade
    cutoffs: tuple[float, ...]  # len(grades) - 1 upper PD bounds, strictly increasing
    method: str = "fixed"  # "fixed" | "fitted"
    table: tuple[dict, ...] = ()  # the grade table of the fitting sample
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.grades)
        if n < 2 or len(self.tiers) != n or len(self.cutoffs) != n - 1:
            raise BundleError(
                f"a grade scale needs ≥ 2 grades, one tier per grade and one cut-off fewer than grades; "
                f"got {n} grades, {len(self.tiers)} tiers, {len(self.cutoffs)} cut-offs"
            )
        c = np.asarray(self.cutoffs, dtype=np.float64)
        if not (np.all(np.diff(c) > 0) and c[0] > 0 and c[-1] < 1):
            raise BundleError(f"grade cut-offs must increase strictly inside (0, 1); got {list(self.cutoffs)}")
        if any(t not in TIER_ORDER for t in self.tiers):
            raise BundleError(f"tiers must be among {TIER_ORDER}; got {list(self.tiers)}")
        order = [TIER_ORDER.index(t) for t in self.tiers]
        if order != sorted(order):
            raise BundleError(f"tiers must not improve as grades worsen; got {list(self.tiers)}")

    @property
    def n_grades(self) -> int:
        return len(self.grades)

    def grade_index(self, pd_values) -> np.ndarray:
        """Index of each PD's grade (0 = best), vectorised."""
        return np.searchsorted(np.asarray(self.cutoffs), np.asarray(pd_values, dtype=np.float64), side="left").astype(
            np.int16
        )

    def bands(self) -> list[tuple[float, float]]:
        """``(pd_min, pd_max]`` of every grade."""
        edges = [0.0, *self.cutoffs, 1.0]
        return list(itertools.pairwise(edges))

    def first_grade_of_tier(self, tier: str) -> int:
        """The best grade of ``tier`` (or of the first worse tier present)."""
        rank = TIER_ORDER.index(tier)
        for i, t in enumerate(self.tiers):
            if TIER_ORDER.index(t) >= rank:
                return i
        return self.n_grades - 1

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "grades": list(self.grades),
            "tiers": list(self.tiers),
            "cutoffs": list(self.cutoffs),
            "method": self.method,
            "table": list(self.table),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict) -> GradeScaleSpec:
        check_format(d, FORMAT, FORMAT_VERSION)
        return cls(
            grades=tuple(d["grades"]),
            tiers=tuple(d["tiers"]),
            cutoffs=tuple(float(v) for v in d["cutoffs"]),
            method=d.get("method", "fixed"),
            table=tuple(d.get("table", ())),
            meta=d.get("meta") or {},
        )
