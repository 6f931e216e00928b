"""Registry-scale batch rescoring: streaming, bounded memory, atomic, resumable."""

from credit_grading.batch.rescore import DEFAULT_CHUNK_ROWS, ReasonsFor, Rescorer, rescore

__all__ = ["DEFAULT_CHUNK_ROWS", "ReasonsFor", "Rescorer", "rescore"]
