"""Explanations: contributions per entity, decision reports (JSON + HTML), SHAP profiles per grade."""

from credit_grading.explain.core import ExplainResult, explain_table
from credit_grading.explain.decision import (
    decision_documents,
    render_html,
    report_file_stem,
    schema,
    write_reports,
)
from credit_grading.explain.profiles import grade_profiles

__all__ = [
    "ExplainResult",
    "decision_documents",
    "explain_table",
    "grade_profiles",
    "render_html",
    "report_file_stem",
    "schema",
    "write_reports",
]
