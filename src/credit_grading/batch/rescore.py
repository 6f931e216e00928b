"""Rescoring a whole registry in batch: streaming, bounded memory, atomic and resumable.

:func:`rescore` reads the registry chunk by chunk (:class:`~credit_grading.batch.reader.ChunkReader`),
validates each chunk under the model's registry contract, scores, grades and explains it with
the compiled engine, and spools the chunk's results and rejects as Arrow IPC files in a work
directory beside the output, with a checkpoint after each chunk. When every chunk is done the
spools are written into the output Parquet file — one row group per chunk — through a
temporary file in the same directory that is fsync'ed and renamed: the output path appears
only complete. Killed at any moment, the same command resumes after the last checkpoint and
produces a byte-identical output; a finished run removes its work directory.

Memory is bounded by the chunk size: one chunk is in memory at a time, plus the previous
grading's keys when ``previous`` is given.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading import __version__
from credit_grading.batch.keys import duplicate_rows
from credit_grading.batch.output import ResultBuilder
from credit_grading.batch.previous import PreviousGrades
from credit_grading.batch.reader import ChunkReader
from credit_grading.bundle import Bundle
from credit_grading.config.grading import STATUS_M
from credit_grading.exceptions import DataError
from credit_grading.grading.grader import TIER_CODES
from credit_grading.registry.io import file_format
from credit_grading.registry.validate import validate_table
from credit_grading.service import BundleGrader
from credit_grading.stats import rank_moves

DEFAULT_CHUNK_ROWS = 250_000
CHECKPOINT = "checkpoint.json"
_IPC = pa.ipc.IpcWriteOptions(compression=None)  # the spool is short-lived: speed over size


@dataclass(frozen=True)
class ReasonsFor:
    """Which rows get reasons: ``all``, ``changed`` (tier differs from the previous grading, or
    new) or ``tiers:C,D``."""

    mode: str = "all"
    tiers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ReasonsFor:
        t = text.strip()
        if t in ("all", "changed"):
            return cls(t)
        if t.startswith("tiers:"):
            tiers = tuple(x.strip() for x in t[6:].split(",") if x.strip())
            bad = [x for x in tiers if x not in TIER_CODES]
            if not tiers or bad:
                raise DataError(f"--reasons-for tiers:… needs tiers among {list(TIER_CODES)}, got {t!r}")
            return cls("tiers", tiers)
        raise DataError(f"--reasons-for must be all, changed or tiers:C,D (say), got {text!r}")

    def __str__(self) -> str:
        return f"tiers:{','.join(self.tiers)}" if self.mode == "tiers" else self.mode


@dataclass
class Totals:
    rows_read: int = 0
    rows_graded: int = 0
    rows_rejected: int = 0
    rows_explained: int = 0
    tiers: dict = field(default_factory=dict)
    reject_reasons: dict = field(default_factory=dict)
    migration: list | None = None  # [previous tier or "new"][tier] counts
    chunks: list = field(default_factory=list)  # per chunk: rows, graded, rejected, sha256

    def add(self, other: dict) -> None:
        self.rows_read += other["rows"]
        self.rows_graded += other["graded"]
        self.rows_rejected += other["rejected"]
        self.rows_explained += other["explained"]
        for k, v in other["tiers"].items():
            self.tiers[k] = self.tiers.get(k, 0) + v
        for k, v in other["reject_reasons"].items():
            self.reject_reasons[k] = self.reject_reasons.get(k, 0) + v
        if other.get("migration") is not None:
            m = np.asarray(other["migration"])
            self.migration = (m if self.migration is None else np.asarray(self.migration) + m).tolist()
        self.chunks.append({k: other[k] for k in ("rows", "graded", "rejected", "sha256")})


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _ipc_write(table: pa.Table, path: Path) -> str:
    tmp = path.with_name(f".{path.name}.tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=_IPC) as w:
        w.write_table(table)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return _sha256(path)


def _ipc_read(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as src:
        return pa.ipc.open_file(src).read_all()


class Rescorer:
    """One rescoring job (see :func:`rescore`)."""

    def __init__(
        self,
        bundle: Bundle,
        input_path: Path | str,
        output_path: Path | str,
        *,
        rejects_path: Path | str | None = None,
        previous_path: Path | str | None = None,
        reasons: int = 3,
        reasons_for: str | ReasonsFor = "all",
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        restart: bool = False,
        challenger: bool = False,
        compression: str = "lz4",
        carry: tuple[str, ...] = (),
    ) -> None:
        self.bundle = bundle
        self.input = Path(input_path)
        self.output = Path(output_path)
        if file_format(self.output) != "parquet":
            raise DataError(f"the output of a rescoring is Parquet: name it *.parquet, not {self.output.name}")
        self.rejects = Path(rejects_path) if rejects_path else None
        self.reasons = reasons
        self.reasons_for = reasons_for if isinstance(reasons_for, ReasonsFor) else ReasonsFor.parse(reasons_for)
        if self.reasons_for.mode == "changed" and previous_path is None:
            raise DataError("--reasons-for changed needs --previous: a change is against the previous grading")
        self.grader = BundleGrader(bundle, reasons=reasons)
        self.schema = self.grader.schema
        self.reader = ChunkReader(self.input, self.schema, chunk_rows)
        self.previous = PreviousGrades(previous_path, self.schema.id_column) if previous_path else None
        self.previous_path = Path(previous_path) if previous_path else None
        model = bundle.model
        self.builder = ResultBuilder(model.name, model.version, model.scale.grades, model.scale.tiers,
                                     model.overrides, self.schema.id_column, self.schema.as_of_column)  # fmt: skip
        self.work = self.output.with_name(self.output.name + ".work")
        self.restart = restart
        self.challenger = challenger
        unknown = [c for c in carry if c not in self.schema.catalogue]
        if unknown:
            raise DataError(f"cannot carry {unknown}: not catalogue items of this model's registry")
        self.carry = tuple(carry)
        if compression not in ("zstd", "lz4", "snappy", "gzip", "none"):
            raise DataError(f"compression must be zstd, lz4, snappy, gzip or none; got {compression!r}")
        self.compression = compression
        self._needed = self._needed_columns() | frozenset(self.carry)

    def _needed_columns(self) -> frozenset[str]:
        """Items the models and the override rules read (the rest is validated, not carried)."""
        m = self.bundle.model
        need: set[str] = set()
        for spec in (m.scorecard, m.gbm):
            if spec is not None:
                need |= {f.name for f in spec.features}
        for rule in m.overrides:
            need |= rule.when.items()
            if _counts_missing(rule.when):
                need |= {f.name for f in (m.gbm if m.champion == "gbm" else m.scorecard).features}
        return frozenset(need)

    # ------------------------------------------------------------------ checkpoints
    def _run_key(self) -> dict:
        st = self.input.stat()
        key = {
            "package_version": __version__,
            "bundle_sha256": self.bundle.sha256,
            "input": str(self.input.resolve()),
            "input_size": st.st_size,
            "input_mtime_ns": st.st_mtime_ns,
            "chunk_rows": self.reader.chunk_rows,
            "reasons": self.reasons,
            "reasons_for": str(self.reasons_for),
            "challenger": self.challenger,
            "compression": self.compression,
            "carry": list(self.carry),
            "previous": None,
        }
        if self.previous_path is not None:
            ps = self.previous_path.stat()
            key["previous"] = [str(self.previous_path.resolve()), ps.st_size, ps.st_mtime_ns]
        return key

    def _load_checkpoint(self) -> tuple[int, Totals]:
        key = self._run_key()
        cp = self.work / CHECKPOINT
        if self.restart and self.work.exists():
            shutil.rmtree(self.work)
        if cp.exists():
            state = json.loads(cp.read_text(encoding="utf-8"))
            if state.get("key") != key:
                raise DataError(
                    f"{self.work} holds the checkpoint of a different run (another model, input, chunk size or "
                    "options); delete it or pass --restart to start over"
                )
            totals = Totals(**state["totals"])
            seen = self.work / "previous_matched.npy"
            if self.previous is not None and seen.exists():
                self.previous.matched[:] = np.load(seen, allow_pickle=False)
            return state["chunks_done"], totals
        self.work.mkdir(parents=True, exist_ok=True)
        return 0, Totals()

    def _save_checkpoint(self, done: int, totals: Totals) -> None:
        state = {"key": self._run_key(), "chunks_done": done, "totals": totals.__dict__}
        if self.previous is not None:  # which previous entities were seen so far (a bitmap, not JSON)
            buf = io.BytesIO()
            np.save(buf, self.previous.matched, allow_pickle=False)
            _write_atomic_bytes(self.work / "previous_matched.npy", buf.getvalue())
        _write_atomic_bytes(self.work / CHECKPOINT, json.dumps(state).encode())

    # ------------------------------------------------------------------ one chunk
    def _chunk(self, offset: int, table: pa.Table) -> tuple[pa.Table, pd.DataFrame, dict]:
        lo, hi = np.searchsorted(self._dups, [offset, offset + table.num_rows])
        res = validate_table(table, self.schema, row_offset=offset, source=str(self.input),
                             duplicate_rows=self._dups[lo:hi] - offset, keep_columns=self._needed)  # fmt: skip
        data = res.data
        keep = data.index.to_numpy(dtype=np.int64) - offset - 1
        take = pa.array(keep)
        ids = table.column(self.schema.id_column).take(take)
        if pa.types.is_dictionary(ids.type):
            ids = ids.cast(ids.type.value_type)
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        as_of = None
        if self.schema.as_of_column:
            as_of = pa.array(data[self.schema.as_of_column].to_numpy(dtype="datetime64[D]"), type=pa.date32())

        prev = pos = None
        prev_model = None
        if self.previous is not None:
            pos = self.previous.lookup(ids)
            grades = [*self.bundle.model.scale.grades, STATUS_M]
            prev = (PreviousGrades.codes(self.previous.grade, pos, grades),
                    PreviousGrades.codes(self.previous.tier, pos, list(TIER_CODES)))  # fmt: skip
            pm = PreviousGrades.codes(self.previous.model_grade, pos, grades)
            prev_model = np.where(pm >= 0, pm, -1)

        compiled = self.grader.compiled
        mode = self.reasons_for.mode
        explain_all = self.reasons and mode == "all"
        scores = compiled.score(data, reasons=self.reasons if explain_all else 0, challenger=self.challenger)
        grader = self.grader_for_chunk()
        prev_names = None
        if prev_model is not None and grader.hysteresis_margin > 0:
            names = np.array([*self.bundle.model.scale.grades, None], dtype=object)
            prev_names = names[np.where(prev_model >= 0, prev_model, len(names) - 1)]
        grading = grader.grade(data, scores.pd, previous_grade=prev_names)
        tier_codes = self.builder.tier_of_grade[grading.final_grade]
        explained = len(data) if explain_all else 0
        if self.reasons and not explain_all:
            if mode == "tiers":
                want = np.isin(tier_codes, [TIER_CODES.index(t) for t in self.reasons_for.tiers])
            else:  # changed: new entities and entities whose tier moved
                want = (prev[1] < 0) | (prev[1] != tier_codes)
            rows = np.flatnonzero(want)
            explained = len(rows)
            part = compiled.score(data.iloc[rows], reasons=self.reasons, challenger=False) if len(rows) else None
            k = self.reasons
            idx = np.full((len(data), k), -1, dtype=np.int16)
            val = np.zeros((len(data), k))
            if part is not None:
                idx[rows] = part.reason_index
                val[rows] = part.reason_value
            names = part.reason_names if part is not None else self._reason_names()
            scores.reason_index, scores.reason_value, scores.reason_names = idx, val, names
        out = self.builder.table(ids, as_of, scores, grading, prev)
        for c in self.carry:  # registry items asked for beside the results (e.g. district)
            col = data[c]
            arr = pa.array(
                col.values if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy(), from_pandas=True
            )
            out = out.append_column(c, arr)

        tiers = np.bincount(tier_codes, minlength=len(TIER_CODES))
        stats = {
            "rows": table.num_rows,
            "graded": len(data),
            "rejected": res.rows_rejected,
            "explained": explained,
            "tiers": {t: int(c) for t, c in zip(TIER_CODES, tiers, strict=True)},
            "reject_reasons": res.reason_counts(),
        }
        if prev is not None:
            k = len(TIER_CODES)
            from_ = np.where(prev[1] >= 0, prev[1], k)  # row k: new entities
            m = np.zeros((k + 1, k), dtype=np.int64)
            np.add.at(m, (from_, tier_codes), 1)
            stats["migration"] = m.tolist()
        return out, res.rejects, stats

    def grader_for_chunk(self):
        if not hasattr(self, "_grader"):
            from credit_grading.grading.decide import grader_for

            self._grader = grader_for(self.bundle.model)
        return self._grader

    def _reason_names(self) -> tuple[str, ...]:
        m = self.bundle.model
        spec = m.gbm if m.champion == "gbm" else m.scorecard
        return tuple(f.name for f in spec.features)

    # ------------------------------------------------------------------ the job
    def run(self, progress: Callable[[int], None] | None = None, start_callback=None) -> dict:
        from concurrent.futures import ThreadPoolExecutor

        t0 = time.perf_counter()
        done, totals = self._load_checkpoint()
        # Keys repeated anywhere in the file (a chunk alone cannot see them all).
        self._dups = duplicate_rows(self.reader.key_batches(), self.schema.id_column, self.schema.as_of_column,
                                    self.schema.duplicates)  # fmt: skip
        if start_callback is not None:
            start_callback(self.reader.total_rows, done * self.reader.chunk_rows)
        step = progress or (lambda _rows: None)
        partial = self.work / "output.parquet.partial"  # never trusted after a crash: rebuilt from the spool
        partial.unlink(missing_ok=True)
        writer: list[pq.ParquetWriter] = []
        # Parquet encoding runs in a second thread (it releases the GIL) while the next chunk is graded.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer") as pool:
            pending = None
            try:
                for i in range(done):
                    self._write_row_group(writer, partial, _ipc_read(self.work / f"chunk_{i:06d}.arrow"))
                for number, (offset, table) in enumerate(_prefetch(self.reader.chunks(done)), start=done):
                    out, rejects, stats = self._chunk(offset, table)
                    stats["sha256"] = _ipc_write(out, self.work / f"chunk_{number:06d}.arrow")
                    rej = pa.Table.from_pandas(rejects, preserve_index=False).replace_schema_metadata(None)
                    _ipc_write(rej, self.work / f"rejects_{number:06d}.arrow")
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(self._write_row_group, writer, partial, out)
                    totals.add(stats)
                    self._save_checkpoint(number + 1, totals)
                    step(table.num_rows)
                if pending is not None:
                    pending.result()
            finally:
                if writer:
                    writer[0].close()
        if not totals.chunks:
            raise DataError(f"{self.input} has no rows")
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        self.output.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, self.output)
        if self.rejects is not None:
            self._assemble_rejects(len(totals.chunks))
        summary = self._summary(totals, time.perf_counter() - t0)
        _write_atomic_bytes(self.output.with_name(self.output.name + ".summary.json"),
                            json.dumps(summary, indent=1, ensure_ascii=False).encode())  # fmt: skip
        if totals.migration is not None:
            self._write_migration(totals)
        shutil.rmtree(self.work, ignore_errors=True)
        return summary

    def _write_row_group(self, writer: list, path: Path, table: pa.Table) -> None:
        if not writer:
            # Dictionary encoding only where the values repeat (labels, dates): scores, PDs and
            # reason values are all distinct, and trying a dictionary on them costs time for nothing.
            dict_cols = [f.name for f in table.schema if pa.types.is_dictionary(f.type) or pa.types.is_date(f.type)]
            writer.append(pq.ParquetWriter(path, table.schema, compression=self.compression, use_dictionary=dict_cols,
                                           write_statistics=True))  # fmt: skip
        writer[0].write_table(table, row_group_size=max(table.num_rows, 1))

    def _assemble_rejects(self, n_chunks: int) -> None:
        parts = [_ipc_read(self.work / f"rejects_{i:06d}.arrow") for i in range(n_chunks)]
        parts = [p for p in parts if p.num_rows] or parts[:1]
        table = pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({})
        self.rejects.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.rejects.with_name(f".{self.rejects.name}.tmp")
        if file_format(self.rejects) == "parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.rejects)

    def _summary(self, totals: Totals, seconds: float) -> dict:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "rejects": str(self.rejects) if self.rejects else None,
            "model": {"name": self.bundle.name, "version": self.bundle.version, "bundle_sha256": self.bundle.sha256},
            "rows_read": totals.rows_read,
            "rows_graded": totals.rows_graded,
            "rows_rejected": totals.rows_rejected,
            "rows_explained": totals.rows_explained,
            "reasons": self.reasons,
            "reasons_for": str(self.reasons_for),
            "tier_counts": totals.tiers,
            "reject_reasons": totals.reject_reasons,
            "chunks": len(totals.chunks),
            "chunk_rows": self.reader.chunk_rows,
            "output_sha256": _sha256(self.output),
            "chunk_sha256": [c["sha256"] for c in totals.chunks],
            "seconds": round(seconds, 3),
            "rows_per_second": round(totals.rows_read / seconds) if seconds > 0 else None,
            "previous": None
            if self.previous is None
            else {
                "path": str(self.previous_path),
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
        base = self.output.with_name(self.output.name + ".migration")
        _write_atomic_bytes(Path(f"{base}.json"), json.dumps(doc, indent=1).encode())
        counts.to_csv(f"{base}.csv")


def rescore(bundle: Bundle, input_path, output_path, *, progress=None, start_callback=None, **options) -> dict:
    """Rescore a registry file into ``output_path`` (Parquet); returns the summary (also saved
    as ``<output>.summary.json``). Options: ``rejects_path``, ``previous_path``, ``reasons``,
    ``reasons_for``, ``chunk_rows``, ``restart``."""
    return Rescorer(bundle, input_path, output_path, **options).run(progress, start_callback)


def _counts_missing(cond) -> bool:
    if cond.missing_at_least is not None:
        return True
    return any(_counts_missing(c) for c in (cond.all or ()) + (cond.any or ()))


def _prefetch(chunks):
    """The next chunk is read (Parquet decoding releases the GIL) while this one is graded."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=1)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in chunks:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    t = threading.Thread(target=produce, name="chunk-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
