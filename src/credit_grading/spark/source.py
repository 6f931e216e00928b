"""The input of a Spark rescoring: a Parquet file (or folder of files) or a catalog table, its
rows numbered as the local command numbers them, and its repeated keys found before grading.

Row numbers: in a file-based source each row's number is its index in its file
(``_metadata.row_index``) plus the rows of the files before it (files in path order); a single
Parquet file is thus numbered exactly as ``rescore`` numbers it locally, whatever Spark's
splits. A table that is not backed by files is numbered in the order Spark scans it.

Duplicates: a keyed pre-pass groups the rows by a hash of a coarse form of their key in Spark
(no row goes through Python); the rows whose hash repeats — usually few — come to the driver,
which takes their keys in the local normal form
(:func:`credit_grading.registry.keys.normal_key_batch`) and applies the local rule
(:func:`credit_grading.batch.keys.duplicate_rows`): the row numbers the duplicate policy
rejects — every occurrence but the first (``keep_first``) or all of them (``reject_all``) — are
exactly the rows the local command rejects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from credit_grading.config import IdFormat
from credit_grading.exceptions import DataError, SchemaError
from credit_grading.registry.io import check_columns
from credit_grading.registry.schema import RegistrySchema
from credit_grading.spark.tasks import ROW

_LOW = (1 << 33) - 1  # monotonically_increasing_id: partition << 33 | row in partition


def read_source(spark, input_path: Path | None, table: str | None):
    """The DataFrame of the input and how to name it in messages."""
    if table is not None:
        try:
            return spark.table(table), f"table {table}"
        except Exception as exc:  # AnalysisException: no such table
            raise DataError(f"cannot read the table {table}: {str(exc).splitlines()[0]}") from None
    path = Path(input_path)
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    if path.is_file() and not path.name.lower().endswith((".parquet", ".pq")):
        raise DataError(f"--engine spark reads Parquet (a file, a folder of files or a table), not {path.name}")
    try:
        return spark.read.parquet(str(path.resolve())), str(path)
    except Exception as exc:
        raise DataError(f"cannot read {path} as parquet: {str(exc).splitlines()[0]}") from None


def check_source(df, schema: RegistrySchema, source: str) -> list[str]:
    """The columns to read (the contract's, in its order); one error naming missing required
    columns and columns whose type cannot hold their kind, as the local reader gives."""
    from pyspark.sql.pandas.types import to_arrow_schema

    columns = list(df.columns)
    check_columns(columns, schema, source)
    wanted = [c for c in schema.known_columns if c in columns]
    problems = schema.kind_problems(to_arrow_schema(df.select(*wanted).schema))
    if problems:
        raise SchemaError(f"{source} does not match the registry contract: " + "; ".join(problems))
    return wanted


def numbered(df, columns: list[str]):
    """``df``'s ``columns`` with the input row number (0-based) in front as ``__row``."""
    from pyspark.sql import functions as F

    try:
        meta = df.select(F.col("_metadata.row_index"), F.col("_metadata.file_path"))
        meta.schema  # noqa: B018 - analysed now: a table not backed by files has no _metadata
    except Exception:
        meta = None
    if meta is not None:
        files = sorted(df.inputFiles())
        if len(files) <= 1:
            return df.select(F.col("_metadata.row_index").alias(ROW), *columns)
        counts = dict(df.groupBy(F.col("_metadata.file_path").alias("f")).count().collect())
        offsets, seen = [], 0
        for f in sorted(counts):
            offsets += [F.lit(f), F.lit(seen)]
            seen += counts[f]
        start = F.element_at(F.create_map(*offsets), F.col("_metadata.file_path"))
        return df.select((F.col("_metadata.row_index") + start).alias(ROW), *columns)
    tagged = df.select(F.monotonically_increasing_id().alias("__mid"), *columns)
    counts = dict(tagged.groupBy(F.shiftright("__mid", 33).alias("p")).count().collect())
    offsets, seen = [], 0
    for p in sorted(counts):
        offsets += [F.lit(p), F.lit(seen)]
        seen += counts[p]
    if not offsets:
        return tagged.select(F.col("__mid").alias(ROW), *columns)
    start = F.element_at(F.create_map(*offsets), F.shiftright("__mid", 33))
    return tagged.select((F.col("__mid").bitwiseAND(F.lit(_LOW)) + start).alias(ROW), *columns)


def _coarse(df, schema: RegistrySchema):
    """A 64-bit hash, computed in the JVM, equal for any two rows whose keys have the same
    normal form (it may also be equal for others: the driver then tells them apart)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = {f.name: f.dataType for f in df.schema.fields}
    raw = F.col(schema.id_column)
    if not isinstance(fields[schema.id_column], T.StringType):
        raw = raw.cast("string")
    ident = raw if schema.id_format == IdFormat.USCC else F.regexp_replace(raw, r"[^\p{L}\p{N}]", "")
    parts = [ident]
    as_of = schema.as_of_column
    if as_of in fields and isinstance(fields[as_of], T.DateType | T.TimestampNTZType):
        parts.append(F.col(as_of).cast("date"))  # (text dates, and timestamps with a zone: the id alone)
    return F.xxhash64(*parts)


def duplicate_rows(rows_df, schema: RegistrySchema) -> np.ndarray:
    """Sorted 0-based row numbers the duplicate policy rejects (see the module's docstring).

    ``rows_df`` holds ``__row`` and the key columns. In the JVM: a hash of a coarse form of each
    key, counted over a window by hash, and the rows whose hash is seen more than once (usually
    few). On the
    driver: those rows' keys in the local normal form and the local rule
    (:func:`credit_grading.batch.keys.duplicate_rows`) decide.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from credit_grading.batch.keys import duplicate_rows as local_duplicates
    from credit_grading.registry.keys import normal_key_batch

    if schema.numbered or schema.id_column not in rows_df.columns:
        return np.zeros(0, dtype=np.int64)  # numbered rows: every id is its row number
    as_of = schema.as_of_column if schema.as_of_column in rows_df.columns else None
    keys = rows_df.select(ROW, *[c for c in (schema.id_column, as_of) if c is not None])
    keys = keys.where(F.col(schema.id_column).isNotNull()).withColumn("__h", _coarse(keys, schema))
    # Each row with the count of its hash, over one shuffle and one scan (a count by hash joined
    # back to the rows reads the input twice and costs about a third more).
    seen = F.count(F.lit(1)).over(Window.partitionBy("__h"))
    cand = keys.withColumn("__n", seen).where(F.col("__n") > 1).drop("__h", "__n").toArrow()
    if cand.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    cand = cand.sort_by(ROW)
    rows = cand.column(ROW).to_numpy()
    batch = cand.drop_columns([ROW]).combine_chunks().to_batches()[0]
    normal = normal_key_batch(batch, schema.id_column, as_of, schema.id_format)
    found = local_duplicates([normal], schema.id_column, as_of, schema.duplicates)
    return rows[found].astype(np.int64)
