"""The same engine on Spark, for registries beyond one machine.

:func:`rescore` grades a Spark DataFrame of raw registry rows with ``mapInArrow``: each task
receives Arrow record batches, grades them with the compiled engine and returns Arrow batches —
one output row per input row, graded or ``status = rejected`` with its reasons, exactly as the
local :meth:`~credit_grading.service.BundleGrader.predict`. The bundle travels as the bytes of
its JSON and text files (never a pickled model object); every task checks their hashes and
compiles the engine once per Python worker.

Keys repeated in different partitions cannot be seen by one task: deduplicate the DataFrame
first when the source may repeat keys (the local ``rescore`` does this itself).

>>> out = rescore(spark.read.parquet("registry.parquet"), load_bundle("bundle"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pyarrow as pa

from credit_grading.bundle import Bundle, bundle_files, bundle_from_files
from credit_grading.exceptions import DataError
from credit_grading.grading.result_schema import schema_of_model

_GRADERS: dict[str, object] = {}  # per Python worker: bundle sha256 → compiled grader


def output_schema(bundle: Bundle, reasons: int) -> pa.Schema:
    """The Arrow schema of :func:`rescore`'s output: the declared result schema
    (:mod:`credit_grading.grading.result_schema`) with a status per row, labels as plain text."""
    from credit_grading.service import bundle_schema

    schema = bundle_schema(bundle)
    return schema_of_model(bundle.model, id_column=schema.id_column, as_of_column=schema.as_of_column,
                           reasons=reasons, status=True).plain()  # fmt: skip


def _grade_batches(files: dict[str, bytes], sha: str, reasons: int, schema: pa.Schema):
    def run(batches):
        from credit_grading.service import BundleGrader

        grader = _GRADERS.get(sha)
        if grader is None:
            grader = _GRADERS[sha] = BundleGrader(bundle_from_files(files, "<spark task>"), reasons=reasons)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = grader.predict(pa.Table.from_batches([batch]))
            cols = []
            for f in schema:
                col = frame[f.name]
                if pa.types.is_string(f.type):
                    col = col.astype(object).where(col.notna(), None).astype(object)
                    col = col.map(lambda v: None if v is None else str(v), na_action="ignore")
                cols.append(pa.array(col, type=f.type, from_pandas=True) if not pa.types.is_date32(f.type)
                            else pa.array(col.to_numpy(dtype="datetime64[D]"), type=pa.date32()))  # fmt: skip
            yield from pa.Table.from_arrays(cols, schema=schema).to_batches()

    return run


def rescore(df, bundle: Bundle, *, reasons: int = 3):
    """Grade a Spark DataFrame of raw registry rows; one output row per input row."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = output_schema(bundle, reasons)
    files = bundle_files(bundle)
    return df.mapInArrow(_grade_batches(files, bundle.sha256, reasons, schema), from_arrow_schema(schema))


def session(master: str = "local[2]", app_name: str = "credit_grading"):
    """A Spark session with Arrow on, its Python workers running this interpreter, logs quiet."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DataError("--engine spark needs pyspark: pip install 'credit_grading[spark]'") from None
    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def rescore_file(bundle: Bundle, input_path: Path | str, output_path: Path | str, *, master: str = "local[2]",
                 reasons: int = 3) -> dict:  # fmt: skip
    """Rescore a Parquet registry with Spark into a Parquet directory; a summary like the local one."""
    from pyspark.sql import functions as F

    input_path, output_path = Path(input_path), Path(output_path)
    if not str(input_path).endswith((".parquet", ".pq")):
        raise DataError("--engine spark reads Parquet registries")
    t0 = time.perf_counter()
    spark = session(master)
    out = rescore(spark.read.parquet(str(input_path)), bundle, reasons=reasons)
    out.write.mode("overwrite").parquet(str(output_path))
    written = spark.read.parquet(str(output_path))
    counts = {r["tier"] if r["tier"] is not None else "rejected": r["count"]
              for r in written.groupBy("tier").count().collect()}  # fmt: skip
    rejected = counts.pop("rejected", 0)
    total = sum(counts.values()) + rejected
    seconds = time.perf_counter() - t0
    del F
    return {
        "input": str(input_path),
        "output": str(output_path),
        "engine": f"spark {master}",
        "model": {"name": bundle.name, "version": bundle.version, "bundle_sha256": bundle.sha256},
        "rows_read": total,
        "rows_graded": total - rejected,
        "rows_rejected": rejected,
        "tier_counts": counts,
        "seconds": round(seconds, 3),
    }
