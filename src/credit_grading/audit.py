"""Moved: the run log is :mod:`credit_grading.runlog`, objections are :mod:`credit_grading.objections`.

Kept only while a caller still imports from here; delete it when none does.
"""

from credit_grading.exceptions import AuditError
from credit_grading.objections import file_objection, list_objections, resolve_objection
from credit_grading.runlog import append_run, default_path, history, run_record, runs, verify

__all__ = ["AuditError", "append_run", "default_path", "file_objection", "history", "list_objections",
           "resolve_objection", "run_record", "runs", "verify"]  # fmt: skip
