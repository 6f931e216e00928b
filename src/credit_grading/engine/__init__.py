"""The one scoring core: specs compiled into arrays once, then scored vectorised.

Training-time prediction, the CLI, batch rescoring, Spark and the MLflow model all call
this package, so every path gives the same numbers.
"""

from credit_grading.engine.reasons import top_k_shortfall
from credit_grading.engine.scorecard import CompiledScorecard, ScoreResult, reasons_frame

__all__ = ["CompiledScorecard", "ScoreResult", "reasons_frame", "top_k_shortfall"]
