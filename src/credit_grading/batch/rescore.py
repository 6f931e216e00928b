"""Rescoring a whole registry in batch: streaming, bounded memory, atomic, resumable, exclusive.

:func:`rescore` reads the registry chunk by chunk (:class:`~credit_grading.batch.reader.ChunkReader`),
and for each chunk the :class:`~credit_grading.batch.chunks.ChunkGrader` validates it under the
model's registry contract, scores, grades and explains it with the compiled engine; the
:class:`~credit_grading.batch.writer.OutputWriter` appends it to the output as one row group
(encoded once, in place), and the :class:`~credit_grading.batch.checkpoint.CheckpointStore`
records the progress. The stages overlap: one thread reads and validates the next chunk (in file
order), two grader threads score and grade a chunk each (one's Python parts run while the other's
kernels use the cores), and one writes the chunk before them, in file order. The output
path appears only complete (written beside it, fsync'ed, renamed). Killed at any moment, the same
command resumes after the last checkpoint and produces a byte-identical output; a finished run
removes its work directory.

Safety around the job, all decided before any row is read: the options are checked
(:class:`~credit_grading.batch.options.RescoreOptions`); no output may be the input or the
previous grading (under any path or link); every output location must be writable; an existing
output is replaced only when asked. One job at a time writes an output: the work directory is
locked (an OS lock, released when the process dies), so a second job refuses at once, naming
the first, or waits for it. The input is hashed from the moment the job starts, and the job
fails if the file changes under it.

Memory is bounded by the chunk size — three chunks are in flight at a time (read and validated,
graded, written) — plus the keys seen so far (``keep_first`` duplicates, about 40 bytes per row)
and the previous grading's keys when ``previous_path`` is given.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading import __version__
from credit_grading.batch.checkpoint import CheckpointStore, Totals
from credit_grading.batch.chunks import ChunkGrader
from credit_grading.batch.keys import SeenKeys, duplicate_rows
from credit_grading.batch.options import DEFAULT_CHUNK_ROWS, ReasonsFor, RescoreOptions
from credit_grading.batch.previous import PreviousGrades
from credit_grading.batch.reader import ChunkReader
from credit_grading.batch.writer import OutputWriter
from credit_grading.bundle import Bundle
from credit_grading.config import DuplicatePolicy
from credit_grading.csvsafe import write_csv
from credit_grading.engine.scorecard import default_threads
from credit_grading.exceptions import DataError
from credit_grading.grading.result_schema import TIER_CODES
from credit_grading.registry.io import file_format
from credit_grading.stats import rank_moves
from credit_grading.storage import (
    DirectoryLock,
    check_distinct,
    check_writable,
    describe_os_error,
    sha256_file,
    write_atomic,
)

_CHECKPOINT_SECONDS = 1.0
_GRADERS = 2  # chunks graded at once

__all__ = ["DEFAULT_CHUNK_ROWS", "ReasonsFor", "RescoreOptions", "Rescorer", "rescore"]


class _InputHash:
    """sha256 of the input as it was when the job started, computed in a second thread.

    The file is opened at once; :meth:`result` fails if the path no longer names that file, or
    the file was changed, while the job ran.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by the thread
        st = os.fstat(self._fh.fileno())
        self._stat = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self._hash = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="input-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._fh:
                while block := self._fh.read(1 << 22):
                    self._hash.update(block)
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        st = os.stat(self.path)
        if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != self._stat:
            raise DataError(
                f"{self.path} changed while it was being graded (another process wrote or replaced it); "
                "nothing was written: run the job again on a file that stays put"
            )
        return self._hash.hexdigest()


class Rescorer:
    """One rescoring job (see :func:`rescore`). Every check that can fail runs in ``__init__``."""

    def __init__(
        self, bundle: Bundle, input_path: Path | str, output_path: Path | str, options: RescoreOptions | None = None
    ) -> None:
        self.bundle = bundle
        self.options = options = options or RescoreOptions()
        self.input = Path(input_path)
        self.output = Path(output_path)
        if not self.output.name.lower().endswith((".parquet", ".pq")):
            raise DataError(f"the output of a rescoring is Parquet: name it *.parquet, not {self.output.name}")
        file_format(self.input)
        check_distinct({"the input": self.input, "the output": self.output, "the rejects file": options.rejects_path,
                        "the previous grading": options.previous_path})  # fmt: skip
        for side in (self._side("summary.json"), self._side("migration.json"), self._side("migration.csv")):
            check_distinct({"the input": self.input, "a file the job writes": side,
                            "the previous grading": options.previous_path})  # fmt: skip
        self.work = self.output.with_name(self.output.name + ".work")
        check_writable(self.output, "the output")
        if options.rejects_path is not None:
            check_writable(options.rejects_path, "the rejects file")
        self.chunks = ChunkGrader(bundle, options, None, str(self.input))
        self.chunks.threads = max(1, default_threads() // _GRADERS)  # the graders share the cores
        self.schema = self.chunks.schema
        self.reader = ChunkReader(self.input, self.schema, options.chunk_rows)
        self.previous = None
        if options.previous_path is not None:
            self.previous = PreviousGrades(options.previous_path, self.schema.id_column)
            self.chunks.previous = self.previous

    def _side(self, suffix: str) -> Path:
        return self.output.with_name(f"{self.output.name}.{suffix}")

    def _run_key(self) -> dict:
        st = self.input.stat()
        o = self.options
        key = {
            "package_version": __version__,
            "bundle_sha256": self.bundle.sha256,
            "input": str(self.input.resolve()),
            "input_size": st.st_size,
            "input_mtime_ns": st.st_mtime_ns,
            "chunk_rows": self.reader.chunk_rows,
            "reasons": o.reasons,
            "reasons_for": str(o.reasons_for),
            "challenger": o.challenger,
            "compression": o.compression,
            "carry": list(o.carry),
            "validate": o.validate,
            "previous": None,
            "output_layout": 2,  # row groups written in place, offsets in the checkpoint (no spools)
        }
        if o.lists:  # memberships files: a changed one is another job
            key["lists"] = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in o.lists]
        if o.previous_path is not None:
            ps = o.previous_path.stat()
            key["previous"] = [str(o.previous_path.resolve()), ps.st_size, ps.st_mtime_ns]
        return key

    # ------------------------------------------------------------------ the job
    def run(self, progress: Callable[[int], None] | None = None, start_callback=None, on_complete=None) -> dict:
        """Run the job; returns the summary (also saved as ``<output>.summary.json``).

        ``on_complete(summary)`` is called once when the output is complete, before it is moved
        into place (e.g. to append the run to the run log); the keys of the dict it returns that
        start with ``audit_`` are added to the summary.
        """
        lock = DirectoryLock(self.work, what=f"a rescoring into {self.output}")
        lock.acquire(self.options.wait)
        store = CheckpointStore(self.work, self._run_key())
        keep = False  # a failed run leaves no work directory, unless it holds a checkpoint to resume from
        try:
            if self.options.restart:
                store.clear()
            if not store.exists() and self.output.exists() and not self.options.overwrite:
                raise DataError(
                    f"{self.output} already exists: pass --overwrite (overwrite=True) to replace it, "
                    "or choose another output"
                )
            if store.exists():
                keep = True  # another run's checkpoint is the user's to resume or discard (restart)
                state = store.load(self.previous.matched if self.previous is not None else None)
                keep = False
            else:
                state = None
            return self._run(store, state, progress, start_callback, on_complete)
        except OSError as exc:
            keep = store.exists()
            hint = "; the job resumes from its last checkpoint when run again" if keep else ""
            raise DataError(describe_os_error(exc, f"rescoring {self.input} into {self.output}") + hint) from exc
        except (KeyboardInterrupt, SystemExit):
            keep = store.exists()
            raise
        finally:
            if not keep:
                store.remove()
            lock.release()

    def _run(self, store: CheckpointStore, state: tuple[int, Totals, int] | None, progress, start_callback,
             on_complete) -> dict:  # fmt: skip
        t0 = time.perf_counter()
        matched = self.previous.matched if self.previous is not None else None
        done, totals, offset = state or (0, Totals(), 0)
        input_hash = _InputHash(self.input)
        writer = OutputWriter(self.work, self.output, self.options.rejects_path, self.options.compression)
        sealed = self.work / "sealed.json"
        if done and sealed.exists() and not writer.partial.exists() and self.output.exists():
            # Killed after the output moved into place: only what follows is left to do.
            info = json.loads(sealed.read_text(encoding="utf-8"))
            if sha256_file(self.output) == info["sha256"]:
                if start_callback is not None:
                    start_callback(self.reader.total_rows, done * self.reader.chunk_rows)
                return self._finish(writer, totals, t0, input_hash.result(), info["sha256"], on_complete, True)
        dups = self._duplicates(done)
        if start_callback is not None:
            start_callback(self.reader.total_rows, done * self.reader.chunk_rows)
        step = progress or (lambda _rows: None)
        writer.resume(done, offset)

        last_sync = [0.0]

        def commit(number: int, out, rejects, stats: dict, seen: np.ndarray | None, final: bool) -> None:
            stats["sha256"] = writer.add(number, out, rejects)
            totals.add(stats)
            # A checkpoint after the first chunk, then at most once a second, and after the last:
            # each one waits for the disk. A job killed in between redoes the chunks since.
            if final or number == done or time.monotonic() - last_sync[0] >= _CHECKPOINT_SECONDS:
                writer.sync()  # on disk before the checkpoint names it
                store.save(number + 1, totals, seen, writer.offset)
                last_sync[0] = time.monotonic()

        # The stages overlap: the reader decodes and validates the next chunk (in file order, as the
        # duplicate check needs), two graders score and grade a chunk each (one's Python parts run
        # while the other's kernels use the cores), and the writer encodes the chunk before into the
        # output, in file order (Parquet, numpy and the compiled kernels release the GIL).
        validated = (
            (table.num_rows, self.chunks.validate(row, table, dups)) for row, table in self.reader.chunks(done)
        )
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rescore-writer")
        graders = ThreadPoolExecutor(max_workers=_GRADERS, thread_name_prefix="rescore-grade")
        pending: list[Future] = []  # the writer's chunk
        graded: deque[tuple[int, int, Future]] = deque()  # chunks being graded, in file order
        last_chunk = done + self._chunks_left(done) - 1

        def hand_on() -> None:
            """The oldest chunk being graded, once graded, to the writer (after the one before)."""
            number, rows, future = graded.popleft()
            out, rejects, stats = future.result()
            # The previous grades matched so far (chunks graded after this one may have marked theirs
            # already: a resumed job marks them again, the same).
            seen = matched.copy() if matched is not None else None
            if pending:
                pending.pop().result()
            pending.append(pool.submit(commit, number, out, rejects, stats, seen, number >= last_chunk))
            step(rows)

        try:
            for number, (rows, valid) in enumerate(_prefetch(validated), start=done):
                graded.append((number, rows, graders.submit(self.chunks.decide, rows, valid)))
                del valid
                # The first chunk alone (the engine builds its tables once), then _GRADERS at a time.
                while graded and (number == done or len(graded) >= _GRADERS):
                    hand_on()
            while graded:
                hand_on()
            if pending:
                pending.pop().result()
            if totals.chunks and len(totals.chunks) != store.load_done():
                writer.sync()  # (a file whose row count was not known: the last chunk is checkpointed here)
                store.save(len(totals.chunks), totals, matched, writer.offset)
        finally:
            graders.shutdown(wait=True, cancel_futures=True)
            pool.shutdown(wait=True)  # the work directory stays consistent whatever happened here
        if not totals.chunks:
            raise DataError(f"{self.input} has no rows: there is nothing to grade")
        input_sha256 = input_hash.result()
        writer.seal()
        write_atomic(sealed, _json({"sha256": writer.sha256}))
        return self._finish(writer, totals, t0, input_sha256, writer.sha256, on_complete, False)

    def _finish(self, writer: OutputWriter, totals: Totals, t0: float, input_sha256: str, output_sha256: str,
                on_complete, in_place: bool) -> dict:  # fmt: skip
        """Record the run, move the sealed output into place (unless it is there already), write the
        rejects and the side files; the summary."""
        summary = self._summary(totals, time.perf_counter() - t0, input_sha256, output_sha256)
        # The run is recorded before its output appears, once: a run killed after recording
        # resumes to the same bytes and finds its record in the work directory.
        marker = self.work / "recorded.json"
        if on_complete is not None:
            if marker.exists():
                summary.update(json.loads(marker.read_text(encoding="utf-8")))
            else:
                summary.update(on_complete(summary) or {})
                write_atomic(marker, _json({k: v for k, v in summary.items() if k.startswith("audit_")}))
        writer.publish(len(totals.chunks), in_place=in_place)
        write_atomic(self._side("summary.json"), _json(summary))
        if totals.migration is not None:
            self._write_migration(totals)
        return summary

    def _chunks_left(self, done: int) -> int:
        """Chunks from chunk ``done`` on (a large number when the file's rows are not known: CSV)."""
        total = self.reader.total_rows
        if total is None:
            return 1 << 62
        return max(-(-total // self.reader.chunk_rows) - done, 0)

    def _duplicates(self, done: int) -> np.ndarray | SeenKeys:
        """What each chunk's duplicate check reads: the set of keys seen (``keep_first``: one
        streaming pass; a resumed run first reads the keys of the chunks done), or the rows a
        pre-pass over the whole file found (``reject_all``: a key's first row is rejected too)."""
        s = self.schema
        if s.numbered:  # the key is the row number: never repeated
            return np.zeros(0, dtype=np.int64)
        if s.duplicates == DuplicatePolicy.KEEP_FIRST:
            seen = SeenKeys(self.reader.total_rows)
            if done:
                seen.add_batches(self.reader.key_batches(), s.id_column, s.as_of_column, done * self.reader.chunk_rows)
            return seen
        # Keys repeated anywhere in the file (a chunk alone cannot see them all).
        return duplicate_rows(self.reader.key_batches(), s.id_column, s.as_of_column, s.duplicates)

    def _summary(self, totals: Totals, seconds: float, input_sha256: str, output_sha256: str) -> dict:
        o = self.options
        return {
            "input": str(self.input),
            "input_sha256": input_sha256,
            "output": str(self.output),
            "rejects": str(o.rejects_path) if o.rejects_path else None,
            "model": {"name": self.bundle.name, "version": self.bundle.version, "bundle_sha256": self.bundle.sha256},
            "rows_read": totals.rows_read,
            "rows_graded": totals.rows_graded,
            "rows_rejected": totals.rows_rejected,
            "rows_explained": totals.rows_explained,
            "reasons": o.reasons,
            "reasons_for": str(o.reasons_for),
            "validated": o.validate,
            "lists": [{"path": str(p), "sha256": sha256_file(p)} for p in o.lists],
            "tier_counts": totals.tiers,
            "reject_reasons": totals.reject_reasons,
            "chunks": len(totals.chunks),
            "chunk_rows": self.reader.chunk_rows,
            "output_sha256": output_sha256,
            "chunk_sha256": [c["sha256"] for c in totals.chunks],
            "seconds": round(seconds, 3),
            "rows_per_second": round(totals.rows_read / seconds) if seconds > 0 else None,
            "previous": None
            if self.previous is None
            else {
                "path": str(o.previous_path),
                "rows": self.previous.rows,
                "not_in_this_registry": int((~self.previous.matched).sum()),
            },
        }

    def _write_migration(self, totals: Totals) -> None:
        m = np.asarray(totals.migration)
        rows = [*TIER_CODES, "new"]
        counts = pd.DataFrame(m, index=pd.Index(rows, name="previous_tier"), columns=list(TIER_CODES))
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = counts.div(counts.sum(axis=1), axis=0)
        doc = {
            "counts": {r: dict(zip(TIER_CODES, map(int, m[i]), strict=True)) for i, r in enumerate(rows)},
            "rates": {r: {c: (None if np.isnan(v) else float(v)) for c, v in rates.loc[r].items()} for r in rows},
            **rank_moves(m[:4, :4]),  # A–D; M and new entities are neither up nor down
            "new_entities": int(m[len(TIER_CODES)].sum()),
            "exited_entities": int((~self.previous.matched).sum()),
        }  # fmt: skip
        write_atomic(self._side("migration.json"), _json(doc))
        write_csv(counts, self._side("migration.csv"), index=True)


def rescore(
    bundle: Bundle,
    input_path: Path | str,
    output_path: Path | str,
    options: RescoreOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    start_callback: Callable[[int | None, int], None] | None = None,
    on_complete: Callable[[dict], dict | None] | None = None,
    **keywords,
) -> dict:
    """Rescore a registry file into ``output_path`` (Parquet); returns the summary.

    Parameters
    ----------
    bundle
        The model (:func:`credit_grading.bundle.load_bundle`).
    input_path
        The registry (``.parquet`` or ``.csv``).
    output_path
        The result file (``.parquet``); ``<output>.summary.json`` is written beside it, and
        ``<output>.migration.json``/``.csv`` when a previous grading is given.
    options
        A :class:`RescoreOptions`, or its fields as keywords (``rejects_path``,
        ``previous_path``, ``reasons``, ``reasons_for``, ``chunk_rows``, ``restart``,
        ``challenger``, ``compression``, ``carry``, ``overwrite``, ``wait``, ``validate``).
    progress
        Called with the number of rows of each chunk done.
    start_callback
        Called once before the first chunk with the total rows (``None`` if unknown) and the
        rows already done by an interrupted run.
    on_complete
        Called once with the summary when the output is complete, just before it is moved into
        place; returns keys starting with ``audit_`` to add to the summary (the command line
        appends the run to the run log here, so no output appears without its record).
    """
    if options is not None and keywords:
        raise DataError("give rescoring options either as a RescoreOptions or as keywords, not both")
    opts = options or RescoreOptions.from_keywords(**keywords)
    return Rescorer(bundle, input_path, output_path, opts).run(progress, start_callback, on_complete)


def _json(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False)


def _prefetch(chunks):
    """The next chunk is made ready in a second thread while this one is graded.

    The thread starts on chunk k + 1 only once chunk k is taken: two chunks are in hand at a
    time, never a third waiting in a queue (memory is what a chunk costs, not the queue's depth).
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue()
    turn = threading.Semaphore(1)
    done = object()
    stop = threading.Event()
    items = iter(chunks)

    def produce() -> None:
        try:
            while True:
                while not turn.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(items, done)
                q.put(item)
                if item is done:
                    return
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=produce, name="chunk-reader", daemon=True)  # reads and validates
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            turn.release()  # the thread goes on to the next chunk while this one is graded
            yield item
            del item
    finally:
        stop.set()
