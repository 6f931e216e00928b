"""The same engine on Spark, for registries beyond one machine.

:func:`rescore_file` is ``credit-grading rescore --engine spark``: the local command's answers
(the same rows graded to the same values, the same rows rejected with the same row number,
column, value and detail — duplicate keys included, found by a keyed pre-pass over the whole
input) and its guarantees (nothing half-written, an existing output replaced only when asked
and only once the new one is complete, a run-log record, ``summary.json``). Each Spark task
grades its Arrow batches with the local command's chunk code
(:class:`~credit_grading.batch.chunks.ChunkGrader`) inside ``mapInArrow``. The bundle travels
as the bytes of its JSON and text files (never a pickled model object); every Python worker
checks their hashes and compiles the engine once. See ``docs/spark.md``.

>>> summary = rescore_file(load_bundle("bundle"), "registry.parquet", "graded.parquet")  # doctest: +SKIP
"""

from __future__ import annotations

import pyarrow as pa

from credit_grading.bundle import Bundle
from credit_grading.grading.result_schema import schema_of_model
from credit_grading.spark.job import SparkOptions, SparkRescorer, rescore_file
from credit_grading.spark.session import session

__all__ = ["SparkOptions", "SparkRescorer", "output_schema", "rescore_file", "session"]


def output_schema(bundle: Bundle, reasons: int) -> pa.Schema:
    """The declared one-row-per-input result schema (:mod:`credit_grading.grading.result_schema`,
    with a status per row) with labels as plain text, as Spark holds it."""
    from credit_grading.service import bundle_schema

    schema = bundle_schema(bundle)
    return schema_of_model(bundle.model, id_column=schema.id_column, as_of_column=schema.as_of_column,
                           reasons=reasons, status=True).plain()  # fmt: skip
