"""A rescoring job on Spark: the local command's answers and guarantees, on a cluster.

Order of work (every check that can fail runs before Spark is asked for anything):

1. options and paths checked as locally (distinct, writable, an existing output replaced only
   with ``overwrite``); the output's work directory ``<output>.work`` locked, so a local and a
   Spark job never write one output at once;
2. the input read (Parquet path or catalog table), its columns checked against the contract,
   its rows numbered (:mod:`credit_grading.spark.source`);
3. the keyed pre-pass: the rows to reject as duplicates;
4. one pass grading every chunk with the local chunk code
   (:class:`~credit_grading.batch.chunks.ChunkGrader` in ``mapInArrow``, see
   :mod:`credit_grading.spark.tasks`): the tasks write the results into ``<output>.work/spark``
   and return the rejects and counts;
5. the output moved into place by one rename (swapped with the old output when replacing it),
   after the run-log hook; rejects, ``summary.json`` and migration written atomically beside it.

A run that fails anywhere leaves the previous output as it was, removes what it wrote and
raises one :class:`~credit_grading.exceptions.CreditGradingError`.
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading import __version__
from credit_grading.batch.checkpoint import Totals
from credit_grading.batch.options import DEFAULT_CHUNK_ROWS, RescoreOptions
from credit_grading.bundle import Bundle, bundle_files
from credit_grading.exceptions import CreditGradingError, DataError
from credit_grading.spark import output
from credit_grading.spark.session import active_session, quiet_python_loggers, session, spark_error
from credit_grading.spark.source import check_source, duplicate_rows, numbered, read_source
from credit_grading.spark.tasks import KIND, MATCHED, ROW, STATS, grade_chunks, grade_rows, result_schema
from credit_grading.storage import (
    DirectoryLock,
    check_distinct,
    check_writable,
    dataset_sha256,
    sha256_file,
    write_atomic,
)

CODECS = {"lz4": "lz4_raw", "zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "none": "none"}


@dataclass(frozen=True)
class SparkOptions:
    """How the job runs on Spark.

    Parameters
    ----------
    master
        The Spark master URL (``local[2]``, ``spark://host:7077``, ``yarn`` …); ignored when a
        session is already running in this process.
    partitions
        Spread the rows over this many tasks (contiguous ranges of rows). By default a Parquet
        file's chunks are spread over as many tasks as Spark runs at once; a folder or a table
        keeps Spark's splits.
    batch_rows
        Rows per Arrow batch handed to a Python worker (``spark.sql.execution.arrow.maxRecordsPerBatch``).
    conf
        Further Spark settings, applied when the session starts.
    single_file
        Write one Parquet file (the local command's layout and types) instead of a dataset
        partitioned by the as-of date.
    verbose
        Let Spark's own console output through.
    """

    master: str = "local[2]"
    partitions: int | None = None
    batch_rows: int = DEFAULT_CHUNK_ROWS
    conf: dict[str, str] = field(default_factory=dict)
    single_file: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.partitions is not None and (not isinstance(self.partitions, int) or self.partitions < 1):
            raise DataError(f"the number of Spark partitions must be a positive whole number, got {self.partitions!r}")
        if not isinstance(self.batch_rows, int) or self.batch_rows < 1:
            raise DataError(f"the Arrow batch size must be a positive whole number of rows, got {self.batch_rows!r}")

    @staticmethod
    def parse_conf(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
        """``["k=v", …]`` as a dict, naming a pair without ``=``."""
        conf = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise DataError(f"a Spark setting is given as key=value, got {pair!r}")
            conf[key.strip()] = value.strip()
        return conf


class SparkRescorer:
    """One rescoring job on Spark (see :func:`rescore_file`)."""

    def __init__(self, bundle: Bundle, input_path: Path | str | None, output_path: Path | str,
                 options: RescoreOptions | None = None, spark_options: SparkOptions | None = None, *,
                 table: str | None = None) -> None:  # fmt: skip
        from credit_grading.batch.chunks import ChunkGrader
        from credit_grading.batch.previous import PreviousGrades

        self.bundle = bundle
        self.options = o = options or RescoreOptions()
        self.spark_options = spark_options or SparkOptions()
        if (input_path is None) == (table is None):
            raise DataError("give the input as a Parquet path or as a table name (one of the two)")
        self.input = Path(input_path) if input_path is not None else None
        self.table = table
        self.output = Path(output_path)
        if not self.output.name.lower().endswith((".parquet", ".pq")):
            raise DataError(f"the output of a rescoring is Parquet: name it *.parquet, not {self.output.name}")
        check_distinct({"the input": self.input, "the output": self.output, "the rejects file": o.rejects_path,
                        "the previous grading": o.previous_path})  # fmt: skip
        check_writable(self.output, "the output")
        if o.rejects_path is not None:
            check_writable(o.rejects_path, "the rejects file")
        self.work = self.output.with_name(self.output.name + ".work")
        self.chunks = ChunkGrader(bundle, o, None, str(self.input or table))
        self.schema = self.chunks.schema
        reserved = {KIND, ROW, STATS, MATCHED} & set(o.carry)
        if reserved:
            raise DataError(f"cannot carry {sorted(reserved)}: the Spark job uses these names itself")
        self.previous = PreviousGrades(o.previous_path, self.schema.id_column) if o.previous_path else None
        self.chunks.previous = self.previous

    def _side(self, suffix: str) -> Path:
        return self.output.with_name(f"{self.output.name}.{suffix}")

    def run(self, spark=None, on_complete: Callable[[dict], dict | None] | None = None) -> dict:
        lock = DirectoryLock(self.work, what=f"a rescoring into {self.output}")
        lock.acquire(self.options.wait)
        stage = self.work / "spark"
        own = spark is None and active_session() is None
        try:
            if self.output.exists() and not self.options.overwrite:
                raise DataError(f"{self.output} already exists: pass --overwrite (overwrite=True) to replace it, "
                                "or choose another output")  # fmt: skip
            shutil.rmtree(stage, ignore_errors=True)  # a killed run's (we hold the lock)
            so = self.spark_options
            if spark is None:
                spark = session(so.master, conf=so.conf, verbose=so.verbose)
            elif not so.verbose:
                quiet_python_loggers()
            try:
                return self._run(spark, stage, on_complete)
            except CreditGradingError:
                raise
            except Exception as exc:
                raise spark_error(exc, f"rescoring {self.input or self.table} on Spark") from None
            finally:
                if own:
                    spark.stop()
        finally:
            shutil.rmtree(stage, ignore_errors=True)
            lock.release()
            output.remove_if_only_lock(self.work)

    def _run(self, spark, stage: Path, on_complete) -> dict:
        from pyspark.sql.pandas.types import from_arrow_schema

        t0 = time.perf_counter()
        phases: dict[str, float] = {}
        o, so, s = self.options, self.spark_options, self.schema
        # Settings of this job, put back afterwards: Arrow batch size; as many shuffle partitions
        # for the key pre-pass as Spark runs tasks at once (the default 200 costs more than it brings).
        settings = {"spark.sql.execution.arrow.maxRecordsPerBatch": str(so.batch_rows)}
        if "spark.sql.shuffle.partitions" not in so.conf:
            settings["spark.sql.shuffle.partitions"] = str(max(2, spark.sparkContext.defaultParallelism))
        before = {k: spark.conf.get(k, None) for k in settings}
        for k, v in settings.items():
            spark.conf.set(k, v)
        input_hash = _InputHash(self.input) if self.input is not None else None
        try:
            df, source = read_source(spark, self.input, self.table)
            columns = check_source(df, s, source)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rows = numbered(df, columns)
                dups = duplicate_rows(rows, s)
                phases["keys"] = time.perf_counter() - t0
                empty = pa.Table.from_batches([], schema=_arrow_schema(df.select(*columns)))
                results = self.chunks.grade(0, empty, np.zeros(0, dtype=np.int64))[0].schema
                by_date = s.as_of_column if (not so.single_file and s.as_of_column in results.names) else None
                task_options = _task_options(o)
                job = {  # a Python worker keeps the compiled grader for the next job with the same key
                    "key": json.dumps([self.bundle.sha256, task_options, _stat_key(o.previous_path), source]),
                    "files": bundle_files(self.bundle),
                    "options": task_options,
                    "id_column": s.id_column,
                    "source": source,
                    "duplicates": dups.tobytes(),
                    "stage": str((stage / "graded").resolve()),
                    "by_date": by_date,
                    "compression": o.compression,
                }
                back = from_arrow_schema(result_schema(s.id_column))
                if self.input is not None and self.input.is_file():  # the tasks read their chunks themselves
                    slots = so.partitions or spark.sparkContext.defaultParallelism
                    ranges = _task_ranges(pq.ParquetFile(self.input).metadata.num_rows, o.chunk_rows, slots)
                    tasks = spark.range(0, len(ranges), 1, max(len(ranges), 1))
                    fn = grade_chunks(job, str(self.input.resolve()), o.chunk_rows, ranges)
                    rest = tasks.mapInArrow(fn, back).toArrow()
                else:  # Spark reads the rows and hands them over in Arrow batches
                    if so.partitions:
                        rows = rows.repartitionByRange(so.partitions, ROW).sortWithinPartitions(ROW)
                    rest = rows.mapInArrow(grade_rows(job), back).toArrow()
                phases["grade"] = time.perf_counter() - t0 - phases["keys"]
        finally:
            for k, v in before.items():
                if v is None:
                    spark.conf.unset(k)
                else:
                    spark.conf.set(k, v)
        totals = Totals()
        keep: set[str] = set()
        chunks = 0
        matched = np.zeros(self.previous.rows, dtype=bool) if self.previous is not None else None
        kinds = rest.column(KIND).to_numpy(zero_copy_only=False)
        stats = rest.filter(pa.array(kinds == "stats"))
        for i, text in enumerate(stats.column(STATS).to_pylist()):
            part = json.loads(text)
            part["sha256"] = None
            totals.add(part)
            keep.update(part["files"])
            chunks += part.get("chunks", 0)
            if matched is not None:
                bits = np.frombuffer(stats.column(MATCHED)[i].as_py(), dtype=np.uint8)
                matched |= np.unpackbits(bits, count=len(matched)).astype(bool)
        if totals.rows_read == 0:
            raise DataError(f"{self.input or self.table} has no rows: there is nothing to grade")
        rejects = rest.filter(pa.array(kinds == "rejects"))
        published = output.finish_stage(
            stage / "graded", keep, results, single_file=so.single_file, compression=o.compression
        )
        files = output.data_files(published)
        summary = self._summary(totals, so, time.perf_counter() - t0, input_hash, published, files, len(dups), chunks)
        summary["spark"]["seconds"] = {k: round(v, 3) for k, v in phases.items()}
        if self.previous is not None:
            self.previous.matched = matched
            summary["previous"]["not_in_this_registry"] = int((~matched).sum())
        if on_complete is not None:
            summary.update(on_complete(summary) or {})
        output.publish(published, self.output)
        if o.rejects_path is not None:
            output.write_rejects(rejects, s.id_column, o.rejects_path)
        write_atomic(self._side("summary.json"), json.dumps(summary, indent=1, ensure_ascii=False))
        if totals.migration is not None:
            output.write_migration(self, totals)
        return summary

    def _summary(self, totals: Totals, so: SparkOptions, seconds: float, input_hash, published: Path,
                 files: list[Path], duplicates: int, chunks: int) -> dict:  # fmt: skip
        o = self.options
        chunk_sha = {f: sha256_file(f) for f in files}
        return {
            "input": str(self.input) if self.input is not None else f"table:{self.table}",
            "input_sha256": input_hash.result() if input_hash is not None else None,
            "output": str(self.output),
            "output_layout": "file" if so.single_file else "dataset",
            "rejects": str(o.rejects_path) if o.rejects_path else None,
            "model": {"name": self.bundle.name, "version": self.bundle.version, "bundle_sha256": self.bundle.sha256},
            "engine": "spark",
            "package_version": __version__,
            "rows_read": totals.rows_read,
            "rows_graded": totals.rows_graded,
            "rows_rejected": totals.rows_rejected,
            "rows_explained": totals.rows_explained,
            "duplicate_rows": duplicates,
            "reasons": o.reasons,
            "reasons_for": str(o.reasons_for),
            "validated": o.validate,
            "tier_counts": totals.tiers,
            "reject_reasons": totals.reject_reasons,
            "chunks": chunks,
            "chunk_rows": so.batch_rows,
            "output_sha256": chunk_sha[published] if published.is_file() else dataset_sha256(published, chunk_sha),
            "chunk_sha256": list(chunk_sha.values()),
            "seconds": round(seconds, 3),
            "rows_per_second": round(totals.rows_read / seconds) if seconds > 0 else None,
            "spark": {
                "master": so.master,
                "partitions": so.partitions,
                "batch_rows": so.batch_rows,
                "tasks": len(totals.chunks),
            },
            "previous": None
            if self.previous is None
            else {"path": str(o.previous_path), "rows": self.previous.rows, "not_in_this_registry": None},
        }


def _arrow_schema(df) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema)


def _task_options(o: RescoreOptions) -> dict:
    """The options a task's chunk grader needs, as plain data."""
    return {"reasons": o.reasons, "reasons_for": str(o.reasons_for), "challenger": o.challenger,
            "carry": list(o.carry), "validate": o.validate,
            "previous_path": str(o.previous_path.resolve()) if o.previous_path else None}  # fmt: skip


def _task_ranges(rows: int, chunk_rows: int, tasks: int) -> list[tuple[int, int]]:
    """(first chunk, stop chunk) of each task: the chunks in ``tasks`` runs (fewer if there are
    fewer chunks). By default as many tasks as Spark runs at once: each task's few seconds of
    start (its Python worker, the file's footer) are paid once per slot, not once per chunk."""
    chunks = max(-(-rows // chunk_rows), 1)
    n = min(tasks, chunks)
    bounds = np.linspace(0, chunks, n + 1).round().astype(int).tolist()
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _stat_key(path: Path | None) -> list | None:
    if path is None:
        return None
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


class _InputHash:
    """sha256 of the input file (or folder of files) hashed beside the job; fails if it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stat = output.stat_of(path)
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="input-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = sha256_file(self.path) if self.path.is_file() else dataset_sha256(self.path)
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self) -> str | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        if output.stat_of(self.path) != self._stat:
            raise DataError(f"{self.path} changed while it was being graded (another process wrote or replaced it); "
                            "nothing was written: run the job again on a file that stays put")  # fmt: skip
        return self._value


def rescore_file(
    bundle: Bundle,
    input_path: Path | str | None,
    output_path: Path | str,
    options: RescoreOptions | None = None,
    spark_options: SparkOptions | None = None,
    *,
    table: str | None = None,
    spark=None,
    on_complete: Callable[[dict], dict | None] | None = None,
    master: str | None = None,
    **keywords,
) -> dict:
    """Rescore a Parquet registry (or a catalog ``table``) on Spark; returns the summary.

    The same rows are graded and rejected as by :func:`credit_grading.batch.rescore` with the
    same ``options`` (a :class:`~credit_grading.batch.options.RescoreOptions`, or its fields as
    keywords); the output is a Parquet dataset partitioned by the as-of date, or one file with
    ``SparkOptions(single_file=True)``. ``spark``: a running session to use (left running);
    without one, a session is started with ``spark_options`` and stopped at the end.
    ``on_complete`` is called with the summary before the output appears (the run log).
    """
    if options is not None and keywords:
        raise DataError("give rescoring options either as a RescoreOptions or as keywords, not both")
    opts = options or RescoreOptions.from_keywords(**keywords)
    so = spark_options or SparkOptions(**({"master": master} if master else {}))
    return SparkRescorer(bundle, input_path, output_path, opts, so, table=table).run(spark, on_complete)
