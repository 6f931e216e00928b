"""Registry-scale batch rescoring: streaming, bounded memory, atomic, resumable."""

from credit_grading.batch.options import DEFAULT_CHUNK_ROWS, ReasonsFor, RescoreOptions
from credit_grading.batch.rescore import Rescorer, rescore

__all__ = ["DEFAULT_CHUNK_ROWS", "ReasonsFor", "RescoreOptions", "Rescorer", "rescore"]
