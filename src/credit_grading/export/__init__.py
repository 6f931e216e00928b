"""A bundle exported for scoring outside Python: one SQL ``SELECT`` per dialect, and PMML 4.4.

Both are generated from the specs the engine compiles (bins, points, trees, calibration, master
scale, override rules), so the decision logic has one source of truth; each file names the
bundle's model version and sha256 in a header comment.

>>> from credit_grading.export import export_sql, sql_text   # doctest: +SKIP
>>> print(sql_text(bundle, dialect="duckdb", table="registry"))  # doctest: +SKIP
"""

from __future__ import annotations

from credit_grading.export._common import check_output
from credit_grading.export.pmml import export_pmml, pmml_text
from credit_grading.export.sql import DIALECTS, MAX_TREE_DEPTH, export_sql, sql_text

__all__ = ["DIALECTS", "MAX_TREE_DEPTH", "check_output", "export_pmml", "export_sql", "pmml_text", "sql_text"]
