"""The registry: the data contract, USCC checks, reading and whole-table validation.

>>> from credit_grading.registry import load_registry  # doctest: +SKIP
>>> result = load_registry("registry.parquet")          # doctest: +SKIP
>>> result.rows_read == result.rows_valid + result.rows_rejected  # doctest: +SKIP
True
"""

from __future__ import annotations

from pathlib import Path

from credit_grading.config import Config, load_config
from credit_grading.registry.io import read_registry_table, write_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.registry.uscc import check_uscc, is_valid_uscc, uscc_check_char
from credit_grading.registry.validate import REASONS, ValidationResult, validate_table


def load_registry(
    path: Path | str, config: Config | RegistrySchema | None = None, *, passthrough: tuple[str, ...] = ()
) -> ValidationResult:
    """Read a registry file (CSV or Parquet) and validate it as a whole.

    ``config`` may be a :class:`Config`, a :class:`RegistrySchema` or ``None`` for the
    built-in default; ``passthrough`` names columns outside the contract to carry along. Table-level problems raise
    :class:`~credit_grading.exceptions.SchemaError`; row-level problems go to the rejects.
    """
    schema = config if isinstance(config, RegistrySchema) else RegistrySchema.from_config(config or load_config())
    table, ignored = read_registry_table(path, schema, extra=passthrough)
    return validate_table(table, schema, source=str(path), ignored_columns=ignored, passthrough=passthrough)


__all__ = [
    "REASONS",
    "RegistrySchema",
    "ValidationResult",
    "check_uscc",
    "is_valid_uscc",
    "load_registry",
    "read_registry_table",
    "uscc_check_char",
    "validate_table",
    "write_table",
]
