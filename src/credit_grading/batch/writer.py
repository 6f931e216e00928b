"""The output of a rescoring job: spooled per chunk, written once, renamed into place.

Each graded chunk is spooled to the work directory as an Arrow IPC file (results and rejects),
fsync'ed before the checkpoint names it, and appended as one row group to a partial Parquet
file that a second thread encodes while the next chunk is graded. A resumed run rebuilds the
partial file from the spools (a partial file left by a killed process is never trusted), so
the output is byte-identical whatever happened. :meth:`OutputWriter.seal` closes the partial
file and :meth:`OutputWriter.publish` renames it onto the output path and writes the rejects
file, each atomically: the output paths only ever hold a complete file.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading.csvsafe import write_csv
from credit_grading.storage import atomic_path, fsync_file, sha256_file

_IPC = pa.ipc.IpcWriteOptions(compression=None)  # the spool is short-lived: speed over size


def _ipc_write(table: pa.Table, path: Path) -> str:
    with (
        atomic_path(path) as tmp,
        pa.OSFile(str(tmp), "wb") as sink,
        pa.ipc.new_file(sink, table.schema, options=_IPC) as w,
    ):
        w.write_table(table)
    return sha256_file(path)


def _ipc_read(path: Path) -> pa.Table:
    with pa.memory_map(str(path)) as src:
        return pa.ipc.open_file(src).read_all()


class OutputWriter:
    """Writes one job's results into ``output`` and its rejects into ``rejects``."""

    def __init__(self, work: Path, output: Path, rejects: Path | None, compression: str) -> None:
        self.work, self.output, self.rejects = Path(work), Path(output), rejects
        self.compression = compression
        self.partial = self.work / "output.parquet.partial"
        self._writer: pq.ParquetWriter | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._pending: Future | None = None

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def replay(self, done: int) -> None:
        """Start the partial file again from the spools of the ``done`` chunks a checkpoint names."""
        self.partial.unlink(missing_ok=True)
        for i in range(done):
            self._row_group(_ipc_read(self.work / f"chunk_{i:06d}.arrow"))

    def add(self, number: int, results: pa.Table, rejects: pd.DataFrame) -> str:
        """Spool chunk ``number`` (durable before this returns) and queue its row group; its sha256."""
        sha = _ipc_write(results, self.work / f"chunk_{number:06d}.arrow")
        rej = pa.Table.from_pandas(rejects, preserve_index=False).replace_schema_metadata(None)
        _ipc_write(rej, self.work / f"rejects_{number:06d}.arrow")
        self._wait()
        self._pending = self._pool.submit(self._row_group, results)
        return sha

    def seal(self) -> Path:
        """Close the partial file (complete and on disk from here on); its path."""
        self._wait()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        fsync_file(self.partial)
        return self.partial

    def publish(self, chunks: int) -> None:
        """Move the sealed partial file onto the output; write the rejects file."""
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.partial.replace(self.output)
        if self.rejects is not None:
            self._write_rejects(chunks)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _row_group(self, table: pa.Table) -> None:
        if self._writer is None:
            # Dictionary encoding only where the values repeat (labels, dates): scores, PDs and
            # reason values are all distinct, and trying a dictionary on them costs time for nothing.
            dict_cols = [f.name for f in table.schema if pa.types.is_dictionary(f.type) or pa.types.is_date(f.type)]
            self._writer = pq.ParquetWriter(self.partial, table.schema, compression=self.compression,
                                            use_dictionary=dict_cols, write_statistics=True)  # fmt: skip
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def _write_rejects(self, chunks: int) -> None:
        parts = [_ipc_read(self.work / f"rejects_{i:06d}.arrow") for i in range(chunks)]
        parts = [p for p in parts if p.num_rows] or parts[:1]
        table = pa.concat_tables(parts, promote_options="permissive") if parts else pa.table({})
        self.rejects.parent.mkdir(parents=True, exist_ok=True)
        if self.rejects.name.lower().endswith(".csv"):
            write_csv(table.to_pandas(), self.rejects)  # neutralised: rejects hold values as given
        else:
            with atomic_path(self.rejects) as tmp:
                pq.write_table(table, tmp, compression="zstd")
