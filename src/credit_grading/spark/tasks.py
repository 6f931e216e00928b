"""What runs inside Spark's Python workers: each task grades its rows with the local chunk code.

Every function here returns the function ``mapInArrow`` calls. It receives only plain data —
the bundle as the bytes of its files (their hashes checked where it is read), the options as
a dict, the rows to reject as duplicates as the bytes of a sorted int64 array — never a
pickled model; each Python worker compiles the engine once and keeps it for the next task.

A task grades chunks with :meth:`~credit_grading.batch.chunks.ChunkGrader.grade` (offset = the
chunk's first row number in the input, as locally) and writes its results itself, as Parquet
files with the local command's column types, into the job's stage folder: one file per as-of
date (``as_of=YYYY-MM-DD/part-…``), or one file when the output is a single file. Files are
named by the task's first row and its attempt's id (unique in the Spark application), written under a temporary
name and renamed when complete. What goes back to Spark is small: the rejects (row number, id,
column, value, reason, detail) and one ``stats`` row with the task's counts and the files it
wrote — the driver keeps exactly the files of the attempts Spark accepted.

Two ways to get rows: :func:`grade_chunks` reads its range of chunks of a Parquet file itself
(:class:`~credit_grading.batch.reader.ChunkReader`, the local reader: the same chunks as the
local command, and no row passes through the JVM); :func:`grade_rows` grades the Arrow
batches Spark hands it (a table, a folder of files), its row numbers in column ``__row``.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROW = "__row"  # the input row number (0-based), as the local command numbers rows
KIND = "kind"
STATS = "stats_json"
MATCHED = "previous_matched"
REJECT_PREFIX = "rejects_"

_WORKER: dict[str, object] = {}  # per Python worker: the job's key → its ChunkGrader


def result_schema(id_column: str) -> pa.Schema:
    """The schema of what tasks return to Spark: kind, row, the reject columns, stats."""
    rejects = [pa.field(REJECT_PREFIX + c, pa.string()) for c in (id_column, "column", "value", "reason", "detail")]
    return pa.schema([pa.field(KIND, pa.string()), pa.field(ROW, pa.int64()), *rejects,
                      pa.field(STATS, pa.string()), pa.field(MATCHED, pa.binary())])  # fmt: skip


def _grader(job: dict):
    g = _WORKER.get(job["key"])
    if g is None:
        from credit_grading.batch.chunks import ChunkGrader
        from credit_grading.batch.options import RescoreOptions
        from credit_grading.batch.previous import PreviousGrades
        from credit_grading.bundle import bundle_from_files

        bundle = bundle_from_files(job["files"], "<spark task>")
        options = RescoreOptions(**job["options"])
        previous = None
        if options.previous_path is not None:
            previous = PreviousGrades(options.previous_path, job["id_column"])
        g = ChunkGrader(bundle, options, previous, job["source"])
        from pyspark import TaskContext

        ctx = TaskContext.get()  # the engine uses the cores Spark gave the task (spark.task.cpus)
        g.threads = max(1, ctx.cpus()) if ctx is not None else None
        _WORKER.clear()
        _WORKER[job["key"]] = g
    return g


class _Task:
    """One task attempt: grades chunks, writes their results, gathers rejects and counts."""

    def __init__(self, job: dict, first_row: int) -> None:
        from pyspark import TaskContext

        self.job = job
        self.grader = _grader(job)
        self.dups = np.frombuffer(job["duplicates"], dtype=np.int64)
        if self.grader.previous is not None:
            self.grader.previous.matched[:] = False  # this task's matches only
        ctx = TaskContext.get()
        attempt = ctx.taskAttemptId() if ctx is not None else 0  # unique in the application
        self.name = f"part-{first_row:012d}-{attempt}.parquet"
        self.stage = Path(job["stage"])
        self.by_date = job["by_date"]
        self.writers: dict[str, tuple[pq.ParquetWriter, Path, Path]] = {}
        self.total: dict = {"rows": 0, "graded": 0, "rejected": 0, "explained": 0, "tiers": {}, "reject_reasons": {}}
        self.rejects: list[pa.RecordBatch] = []
        self.schema = result_schema(job["id_column"])

    def grade(self, offset: int, table: pa.Table) -> None:
        out, rejects, stats = self.grader.grade(offset, table, self.dups)
        _add(self.total, stats)
        self.total["chunks"] = self.total.get("chunks", 0) + 1
        if out.num_rows:
            self._write(out)
        if len(rejects):
            n = len(rejects)
            cols = [pa.array(["rejects"] * n, pa.string()), pa.array(rejects["row_number"].to_numpy() - 1, pa.int64())]
            for c in (self.job["id_column"], "column", "value", "reason", "detail"):
                col = rejects[c].astype(object)
                cols.append(pa.array(col.where(col.notna(), None), pa.string(), from_pandas=True))
            cols += [pa.nulls(n, pa.string()), pa.nulls(n, pa.binary())]
            self.rejects.append(pa.RecordBatch.from_arrays(cols, schema=self.schema))

    def _write(self, out: pa.Table) -> None:
        if not self.by_date:
            self._writer("", out.schema).write_table(out, row_group_size=max(out.num_rows, 1))
            return
        dates = out.column(self.by_date)
        values = pc.unique(dates)
        for value in values.to_pylist():
            part = out if len(values) == 1 else out.filter(pc.equal(dates, pa.scalar(value, dates.type)))
            part = part.drop_columns([self.by_date])
            folder = f"{self.by_date}={value.isoformat() if value is not None else '__HIVE_DEFAULT_PARTITION__'}"
            self._writer(folder, part.schema).write_table(part, row_group_size=max(part.num_rows, 1))

    def _writer(self, folder: str, schema: pa.Schema) -> pq.ParquetWriter:
        if folder not in self.writers:
            final = self.stage / folder / self.name if folder else self.stage / self.name
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{final.name}.tmp")
            dict_cols = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_date(f.type)]
            w = pq.ParquetWriter(tmp, schema, compression=self.job["compression"], use_dictionary=dict_cols,
                                 write_statistics=True)  # fmt: skip
            self.writers[folder] = (w, tmp, final)
        return self.writers[folder][0]

    def finish(self):
        files = []
        for w, tmp, final in self.writers.values():
            w.close()
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            files.append(final.relative_to(self.stage).as_posix())
        self.total["files"] = files
        yield from self.rejects
        matched = None
        if self.grader.previous is not None:
            matched = np.packbits(self.grader.previous.matched).tobytes()
        schema = self.schema
        cols = [pa.array(["stats"]), pa.nulls(1, pa.int64())] + [pa.nulls(1, pa.string())] * 5
        cols += [pa.array([json.dumps(self.total)]), pa.array([matched], pa.binary())]
        yield pa.RecordBatch.from_arrays(cols, schema=schema)


def grade_chunks(job: dict, path: str, chunk_rows: int, tasks: list[tuple[int, int]]):
    """``mapInArrow`` function over ``spark.range(len(tasks))``: task ``i`` reads and grades
    chunks ``tasks[i][0]`` to ``tasks[i][1] - 1`` of the Parquet file at ``path``."""

    def run(batches):
        from credit_grading.batch.reader import ChunkReader

        for batch in batches:
            for i in batch.column(0).to_pylist():
                first, stop = tasks[i]
                task = _Task(job, first * chunk_rows)
                reader = ChunkReader(path, task.grader.schema, chunk_rows)
                for offset, table in reader.chunks(first):
                    if offset >= stop * chunk_rows:
                        break
                    task.grade(offset, table)
                yield from task.finish()

    return run


def grade_rows(job: dict):
    """``mapInArrow`` function grading the Arrow batches Spark hands it (row numbers in ``__row``)."""

    def run(batches):
        task = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            rows = batch.column(ROW).to_numpy()
            table = pa.Table.from_batches([batch]).drop_columns([ROW])
            if (np.diff(rows) < 0).any():
                order = np.argsort(rows, kind="stable")
                rows, table = rows[order], table.take(pa.array(order))
            if task is None:
                task = _Task(job, int(rows[0]))
            cuts = np.flatnonzero(np.diff(rows) != 1) + 1
            bounds = [0, *cuts.tolist(), len(rows)]
            for start, stop in itertools.pairwise(bounds):  # runs of consecutive rows
                task.grade(int(rows[start]), table.slice(start, stop - start))
        if task is not None:
            yield from task.finish()

    return run


def _add(total: dict, stats: dict) -> None:
    for k in ("rows", "graded", "rejected", "explained"):
        total[k] += stats[k]
    for name in ("tiers", "reject_reasons"):
        for k, v in stats[name].items():
            total[name][k] = total[name].get(k, 0) + v
    if stats.get("migration") is not None:
        m = np.asarray(stats["migration"])
        total["migration"] = (m + np.asarray(total["migration"]) if "migration" in total else m).tolist()
