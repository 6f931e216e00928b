"""The output of a rescoring job: each chunk encoded once, appended as a row group, footer at the end.

The partial file in the work directory (``output.parquet.partial``) is the output being written:
the Parquet magic, then one row group per chunk, each encoded straight into the file at its place
(the column chunks' offsets are their places in the file); the row group's metadata and the
chunk's rejects are appended to a log beside it (``chunks.log``). Both are fsync'ed before a
checkpoint names the chunks (after the first chunk, then at most once a second and at the end:
a sync costs as much as encoding a chunk), and the checkpoint records how many bytes of the
partial file are done. A resumed run truncates the partial file to those
bytes and goes on; every row group's bytes depend only on its chunk and on where it starts, so a
job killed at any moment and resumed writes the same bytes as one that ran through.
:meth:`OutputWriter.seal` appends the footer (all row groups' metadata, gathered) and
:meth:`OutputWriter.publish` renames the file onto the output path and writes the rejects file,
each atomically: the output paths only ever hold a complete file.

How a row group is put at its place: a :class:`pyarrow.parquet.ParquetWriter` on the file's
descriptor writes the magic at offset 0 (the four bytes already there), the descriptor is moved
to the end of the last complete row group, the chunk is written (Arrow takes each column chunk's
offset from the descriptor's position) and the writer's own one-row-group footer is cut off.

Rejects are few: each chunk's go into the log (Arrow IPC) and are gathered at the end.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading.csvsafe import write_csv
from credit_grading.exceptions import DataError
from credit_grading.storage import atomic_path

MAGIC = b"PAR1"
_IPC = pa.ipc.IpcWriteOptions(compression=None)  # the rejects are kept only until the end: speed over size
_TAG = b"CGR1"
_RECORD = struct.Struct("<4sIII")  # tag, chunk number, bytes of metadata, bytes of rejects


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _row_group_end(meta: pq.FileMetaData) -> int:
    """The byte just after the (only) row group that ``meta`` describes."""
    rg = meta.row_group(0)
    end = 0
    for j in range(rg.num_columns):
        c = rg.column(j)
        start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
        end = max(end, start + c.total_compressed_size)
    return end


def _metadata_bytes(meta: pq.FileMetaData) -> bytes:
    sink = pa.BufferOutputStream()
    meta.write_metadata_file(sink)  # magic + footer + length + magic
    return sink.getvalue().to_pybytes()


class OutputWriter:
    """Writes one job's results into ``output`` and its rejects into ``rejects``."""

    def __init__(self, work: Path, output: Path, rejects: Path | None, compression: str) -> None:
        self.work, self.output, self.rejects = Path(work), Path(output), rejects
        self.compression = compression
        self.partial = self.work / "output.parquet.partial"
        self.log = self.work / "chunks.log"  # per chunk: its row group's metadata and its rejects
        self._log_bytes = 0
        self.offset = 0  # bytes of the partial file done (magic and complete row groups)
        self._metas: list[pq.FileMetaData] = []
        self._dict_cols: list[str] | None = None
        self._stats_cols: list[str] = []
        self._file_hash = hashlib.sha256()
        self.sha256: str | None = None

    def resume(self, done: int, offset: int) -> None:
        """Start (``done`` = 0) or go on after the ``done`` chunks a checkpoint names, ``offset`` bytes."""
        self._file_hash = hashlib.sha256()
        if done == 0:
            # Made durable (with the directory entries) before the first checkpoint names them.
            self.partial.write_bytes(MAGIC)
            self.log.write_bytes(b"")
            self.offset = len(MAGIC)
            self._file_hash.update(MAGIC)
            return
        records = self._read_log(done)
        metas = [pq.read_metadata(pa.BufferReader(meta)) for meta, _ in records]
        size = self.partial.stat().st_size if self.partial.exists() else -1
        if size < offset or _row_group_end(metas[-1]) != offset:
            raise DataError(
                f"the partial output in {self.work} is shorter than its checkpoint says; pass --restart to start over"
            )
        fd = os.open(self.partial, os.O_RDWR)
        try:
            os.ftruncate(fd, offset)
            os.fsync(fd)
            for at in range(0, offset, 1 << 22):  # the bytes done go into the output's sha256
                self._file_hash.update(os.pread(fd, min(1 << 22, offset - at), at))
        finally:
            os.close(fd)
        with open(self.log, "r+b") as fh:  # a record past the checkpoint (a kill while it was written) goes
            fh.truncate(self._log_bytes)
        self._metas, self.offset = metas, offset

    def _read_log(self, done: int) -> list[tuple[bytes, bytes]]:
        """The first ``done`` records of the chunk log: each chunk's row-group metadata and rejects."""
        try:
            raw = self.log.read_bytes()
        except OSError:
            raw = b""
        records, at = [], 0
        for i in range(done):
            head = raw[at : at + _RECORD.size]
            if len(head) < _RECORD.size:
                break
            tag, number, meta_len, rej_len = _RECORD.unpack(head)
            body = at + _RECORD.size
            if tag != _TAG or number != i or len(raw) < body + meta_len + rej_len:
                break
            records.append((raw[body : body + meta_len], raw[body + meta_len : body + meta_len + rej_len]))
            at = body + meta_len + rej_len
        if len(records) < done:
            raise DataError(
                f"the work directory {self.work} lacks the record of chunk {len(records) + 1} ({self.log.name}); "
                "pass --restart to start over"
            )
        self._log_bytes = at
        return records

    def add(self, number: int, results: pa.Table, rejects: pd.DataFrame) -> str:
        """Write chunk ``number`` as the next row group; the sha256 of its bytes.

        The chunk is durable after :meth:`sync`; the caller records :attr:`offset` in the checkpoint then.
        """
        if number != len(self._metas):
            raise RuntimeError(f"chunk {number} written after {len(self._metas)} chunks")
        rej = pa.Table.from_pandas(rejects, preserve_index=False).replace_schema_metadata(None)
        if self._dict_cols is None:
            # Dictionary encoding only where the values repeat (labels, dates): scores, PDs and
            # reason values are all distinct, and trying a dictionary on them costs time for nothing.
            # Min/max statistics only where a reader can skip row groups by them (dates, scores,
            # PDs, reason values): ids and labels span their whole range in every row group, and
            # their statistics cost as much as encoding the rest.
            self._dict_cols = [f.name for f in results.schema
                               if pa.types.is_dictionary(f.type) or pa.types.is_date(f.type)]  # fmt: skip
            self._stats_cols = [f.name for f in results.schema
                                if pa.types.is_floating(f.type) or pa.types.is_date(f.type)]  # fmt: skip
        start = self.offset
        fd = os.open(self.partial, os.O_WRONLY)
        with pa.OSFile(fd, "wb") as sink:  # owns fd from here on
            w = pq.ParquetWriter(sink, results.schema, compression=self.compression, use_dictionary=self._dict_cols,
                                 write_statistics=self._stats_cols)  # fmt: skip
            os.lseek(fd, start, os.SEEK_SET)  # after the magic, at the end of the last complete row group
            w.write_table(results, row_group_size=max(results.num_rows, 1))
            w.close()
        meta = w.writer.metadata
        end = _row_group_end(meta)
        fd = os.open(self.partial, os.O_RDWR)
        try:
            os.ftruncate(fd, end)  # the one-row-group footer goes: the file's footer comes at the end
            written = os.pread(fd, end - start, start)
            sha = hashlib.sha256(written).hexdigest()
            self._file_hash.update(written)
        finally:
            os.close(fd)
        # The chunk's record (row-group metadata and rejects) appended to the log.
        meta_bytes, rej_bytes = _metadata_bytes(meta), _ipc_bytes(rej)
        record = _RECORD.pack(_TAG, number, len(meta_bytes), len(rej_bytes)) + meta_bytes + rej_bytes
        fd = os.open(self.log, os.O_WRONLY)
        try:
            os.pwrite(fd, record, self._log_bytes)
        finally:
            os.close(fd)
        self._log_bytes += len(record)
        self._metas.append(meta)
        self.offset = end
        return sha

    def sync(self) -> None:
        """Make every chunk added so far durable (the partial file and the log on disk): a
        checkpoint may then name them."""
        for path in (self.partial, self.log):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def seal(self) -> Path:
        """Append the footer (complete and on disk from here on); the partial file's path.
        :attr:`sha256` is then the file's sha256."""
        if not self._metas:
            raise RuntimeError("no row group to seal")
        meta = pq.read_metadata(pa.BufferReader(_metadata_bytes(self._metas[0])))  # a copy, to gather into
        for m in self._metas[1:]:
            meta.append_row_groups(m)
        footer = _metadata_bytes(meta)[len(MAGIC) :]
        fd = os.open(self.partial, os.O_RDWR)
        try:
            os.ftruncate(fd, self.offset)
            os.pwrite(fd, footer, self.offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._file_hash.update(footer)
        self.sha256 = self._file_hash.hexdigest()
        return self.partial

    def publish(self, chunks: int, in_place: bool = False) -> None:
        """Move the sealed partial file onto the output (``in_place``: it is there already); write
        the rejects file."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if not in_place:
            self.partial.replace(self.output)
        if self.rejects is not None:
            self._write_rejects(chunks)

    def _write_rejects(self, chunks: int) -> None:
        parts = [pa.ipc.open_stream(pa.BufferReader(rej)).read_all() for _, rej in self._read_log(chunks)]
        parts = [p for p in parts if p.num_rows] or parts[:1]
        table = pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({})
        self.rejects.parent.mkdir(parents=True, exist_ok=True)
        if self.rejects.name.lower().endswith(".csv"):
            write_csv(table.to_pandas(), self.rejects)  # neutralised: rejects hold values as given
        else:
            with atomic_path(self.rejects) as tmp:
                pq.write_table(table, tmp, compression="zstd")
