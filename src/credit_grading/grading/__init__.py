"""Grades and supervision tiers: the master scale, overrides, policy, inspection plans, publication."""

from credit_grading.grading.decide import decide, grader_for
from credit_grading.grading.fit import fit_scale, grade_table
from credit_grading.grading.grader import Grader, GradingResult
from credit_grading.grading.manual import ManualOverrides, manual_overrides_from_frame, read_manual_overrides

__all__ = [
    "Grader",
    "GradingResult",
    "ManualOverrides",
    "decide",
    "fit_scale",
    "grade_table",
    "grader_for",
    "manual_overrides_from_frame",
    "read_manual_overrides",
]
