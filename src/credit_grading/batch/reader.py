"""Reading a registry file as a stream of fixed-size chunks (Parquet or CSV).

Chunk ``k`` always holds rows ``k·N + 1 … (k+1)·N`` of the file, whatever the file's row
groups or CSV blocks, so a resumed run cuts the file exactly as the first run did. Parquet is
read with ``iter_batches`` (``pre_buffer=False``; categorical columns stay dictionary-encoded);
a resumed run skips whole row groups. CSV goes through :func:`~credit_grading.registry.io.iter_csv`
with the contract's column types: if a value does not convert, the rest of the file is read as
text so validation can name the value, and a malformed row comes as a marked placeholder row
at its place, so that chunks, the key pre-pass and whole-file validation count rows alike.

Column kinds are decided once per file, here: from the Parquet schema (a wrong type stops the
job with one message before any row is read) or from the CSV reader's explicit column types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading.catalogue import ItemType
from credit_grading.exceptions import DataError
from credit_grading.registry.io import (
    check_columns,
    check_parquet_kinds,
    file_format,
    iter_csv,
    read_columns,
    unify_batches,
)
from credit_grading.registry.keys import normal_key_batch
from credit_grading.registry.schema import RegistrySchema


class ChunkReader:
    """``for offset, table in ChunkReader(path, schema, 100_000): ...`` (offset = rows before the chunk)."""

    def __init__(self, path: Path | str, schema: RegistrySchema, chunk_rows: int) -> None:
        if chunk_rows < 1:
            raise DataError(f"the chunk size must be at least 1 row, got {chunk_rows}")
        self.path = Path(path)
        self.schema = schema
        self.chunk_rows = chunk_rows
        self.format = file_format(self.path)
        columns = read_columns(self.path)
        self.ignored = check_columns(columns, schema, str(self.path))
        self.columns = [c for c in schema.known_columns if c in columns]
        self.total_rows: int | None = None
        if self.format == "parquet":
            check_parquet_kinds(self.path, schema)
            self._pf = pq.ParquetFile(
                self.path, pre_buffer=False, buffer_size=1 << 20, read_dictionary=self._categoricals()
            )
            self.total_rows = self._pf.metadata.num_rows

    def _categoricals(self) -> list[str]:
        cat = self.schema.catalogue
        return [c for c in self.columns if c in cat and cat.item(c).type is ItemType.CATEGORICAL]

    def chunks(self, start_chunk: int = 0) -> Iterator[tuple[int, pa.Table]]:
        """Chunks from chunk number ``start_chunk`` on."""
        start = start_chunk * self.chunk_rows
        batches = self._parquet(start) if self.format == "parquet" else self._csv(start)
        yield from _rechunk(batches, self.chunk_rows, start)

    def key_batches(self) -> Iterator[pa.RecordBatch]:
        """The id and as-of columns of the whole file, row for row as the chunks hold them, in the
        normal form validation uses (:func:`~credit_grading.registry.keys.normal_key_batch`)."""
        s = self.schema
        keys = [c for c in s.key_columns if c in self.columns]
        if not s.numbered:
            for batch in self._key_batches(keys):
                yield normal_key_batch(batch, s.id_column, s.as_of_column, s.id_format)
            return
        # Rows without ids are numbered: the id is the row number, as validation gives it.
        offset = 0
        for batch in self._key_batches(keys or self.columns[:1]):
            rows = pa.array(np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64))
            offset += batch.num_rows
            cols = [rows] + [batch.column(c) for c in keys]
            yield normal_key_batch(pa.RecordBatch.from_arrays(cols, names=[s.id_column, *keys]), s.id_column,
                                   s.as_of_column, s.id_format)  # fmt: skip

    def _key_batches(self, keys: list[str]) -> Iterator[pa.RecordBatch]:
        if self.format == "parquet":
            try:
                yield from self._pf.iter_batches(batch_size=1 << 20, columns=keys)
            except (OSError, pa.ArrowException) as exc:
                raise DataError(f"cannot read {self.path} as parquet: {exc}") from None
            return
        text = {c: pa.string() for c in keys}
        yield from iter_csv(self.path, keys, text, text, block_size=1 << 24)

    def _parquet(self, start: int) -> Iterator[pa.RecordBatch]:
        md = self._pf.metadata
        first, seen = 0, 0
        while first < md.num_row_groups and seen + md.row_group(first).num_rows <= start:
            seen += md.row_group(first).num_rows
            first += 1
        skip = start - seen
        groups = list(range(first, md.num_row_groups))
        if not groups:
            return
        try:
            for batch in self._pf.iter_batches(batch_size=self.chunk_rows, row_groups=groups, columns=self.columns):
                if skip:
                    drop = min(skip, batch.num_rows)
                    batch, skip = batch.slice(drop), skip - drop
                if batch.num_rows:
                    yield batch
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read {self.path} as parquet: {exc}") from None

    def _csv(self, start: int) -> Iterator[pa.RecordBatch]:
        typed = {c: self.schema.csv_read_type(c) for c in self.columns}
        text = {c: pa.string() for c in self.columns}
        yield from iter_csv(self.path, self.columns, typed, text, start=start, block_size=1 << 22)


def _rechunk(batches: Iterator[pa.RecordBatch], size: int, offset: int) -> Iterator[tuple[int, pa.Table]]:
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            rows += take
            batch = batch.slice(take)
            if rows == size:
                yield offset, _table(pending)
                offset += rows
                pending, rows = [], 0
    if rows:
        yield offset, _table(pending)


def _table(batches: list[pa.RecordBatch]) -> pa.Table:
    # Batches of one chunk may differ in type (CSV read typed, then as text) or in having the
    # malformed-row columns: unify.
    if len({b.schema for b in batches}) == 1:
        return pa.Table.from_batches(batches)
    return unify_batches(batches, list(batches[0].schema.names))
