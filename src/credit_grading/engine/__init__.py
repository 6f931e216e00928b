"""The one scoring core: specs compiled into arrays once, then scored vectorised.

Training-time prediction, the CLI, batch rescoring, Spark and the MLflow model all call
this package, so every path gives the same numbers.

The compiled kernels (numba, ``cache=True``) are cached on disk, in a directory only this user
can write: importing this package runs :func:`configure_numba_cache` (see
:mod:`credit_grading._numba_cache`) before any kernel module is imported.
"""

from __future__ import annotations

from credit_grading._numba_cache import configure_numba_cache

configure_numba_cache()

from credit_grading.engine.reasons import top_k_shortfall  # noqa: E402
from credit_grading.engine.scorecard import CompiledScorecard, ScoreResult, reasons_frame  # noqa: E402

__all__ = ["CompiledScorecard", "ScoreResult", "configure_numba_cache", "reasons_frame", "top_k_shortfall"]
