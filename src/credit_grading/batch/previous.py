"""The previous grading of a registry, looked up by entity key for every chunk.

Keys are hashed to 64 bits once (a position-weighted sum over each key's bytes, vectorised over
the Arrow buffers), sorted, and looked up with ``searchsorted``; every hit is then confirmed by
comparing the keys themselves, so a hash collision can never attach another entity's grade.
Memory: the keys as Arrow strings plus a few bytes per entity, no Python object per row.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from credit_grading.engine.kernels import hash_strings_into
from credit_grading.exceptions import DataError
from credit_grading.registry.io import file_format

_WEIGHTS = np.random.default_rng(20251231).integers(1, 2**63, size=256, dtype=np.uint64) | np.uint64(1)


def key_hash(keys: pa.Array, weights: np.ndarray = _WEIGHTS) -> np.ndarray:
    """A 64-bit hash of each string (vectorised; nulls hash to 0); other ``weights`` give an
    independent hash."""
    keys = pc.cast(keys, pa.large_string()) if not pa.types.is_large_string(keys.type) else keys
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64, count=n + 1, offset=keys.offset * 8)
    data = np.frombuffer(keys.buffers()[2], dtype=np.uint8) if keys.buffers()[2] is not None else np.zeros(0, np.uint8)
    out = np.empty(n, dtype=np.uint64)
    base = int(offsets[0])
    hash_strings_into(offsets, data[base : int(offsets[-1])], base, weights, out)
    if keys.null_count:
        out[np.asarray(keys.is_null())] = 0
    return out


class PreviousGrades:
    """A previous grading (the id column, ``grade``, ``tier`` and, when present, ``model_grade``)."""

    def __init__(self, path: Path | str, id_column: str) -> None:
        path = Path(path)
        if not path.exists():
            raise DataError(f"previous grading not found: {path}")
        wanted = [id_column, "grade", "tier", "model_grade"]
        try:
            if file_format(path) == "parquet":
                names = pq.read_schema(path).names
                table = pq.read_table(path, columns=[c for c in wanted if c in names])
            else:
                import pyarrow.csv as pacsv

                table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                    include_columns=wanted, include_missing_columns=True,
                    column_types={c: pa.string() for c in wanted}))  # fmt: skip
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read the previous grading {path}: {exc}") from None
        missing = [c for c in wanted[:3] if c not in table.column_names or table.column(c).null_count == len(table)]
        if missing:
            raise DataError(f"the previous grading {path} has no column(s) {missing}")
        self.path = path
        self.ids = pc.cast(table.column(id_column), pa.string()).combine_chunks()
        self.rows = len(self.ids)
        self.matched = np.zeros(self.rows, dtype=bool)
        # The index (keys hashed and sorted, labels encoded: seconds for millions of rows) is built
        # in a second thread while the job starts reading; the first lookup waits for it.
        self._index_error: BaseException | None = None
        self._indexer: threading.Thread | None = threading.Thread(
            target=self._index, args=(table,), name="previous-index", daemon=True
        )
        self._indexer.start()

    def _index(self, table: pa.Table) -> None:
        try:
            h = key_hash(self.ids)
            order = np.argsort(h, kind="stable")
            hs = h[order]
            first = np.ones(len(hs), dtype=bool)
            first[1:] = hs[1:] != hs[:-1]  # the first row of each key
            self._hash = hs[first]
            self._pos = order[first]
            self._grade = _labels(table.column("grade"))
            self._tier = _labels(table.column("tier"))
            mg = table.column("model_grade") if "model_grade" in table.column_names else table.column("grade")
            self._model_grade = _labels(mg)
        except BaseException as exc:  # raised where the index is first needed
            self._index_error = exc

    def _ready(self) -> None:
        if self._indexer is not None:
            self._indexer.join()
            self._indexer = None
        if self._index_error is not None:
            raise self._index_error

    @property
    def grade(self) -> tuple[list[str], np.ndarray]:
        self._ready()
        return self._grade

    @property
    def tier(self) -> tuple[list[str], np.ndarray]:
        self._ready()
        return self._tier

    @property
    def model_grade(self) -> tuple[list[str], np.ndarray]:
        self._ready()
        return self._model_grade

    def lookup(self, ids: pa.Array) -> np.ndarray:
        """Row of each id in the previous grading, -1 where the entity is new."""
        self._ready()
        ids = pc.cast(ids, pa.string())
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        h = key_hash(ids)
        # Searched in sorted order (numpy then starts each search where the last one ended: a few
        # times faster than random probes into a large table), put back in row order.
        order = np.argsort(h)
        i = np.empty(len(h), dtype=np.intp)
        i[order] = np.searchsorted(self._hash, h[order])
        i = np.minimum(i, max(len(self._hash) - 1, 0))
        hit = (self._hash[i] == h) if len(self._hash) else np.zeros(len(h), dtype=bool)
        pos = np.where(hit, self._pos[i] if len(self._pos) else 0, -1)
        where = np.flatnonzero(hit)
        if len(where):
            same = pc.equal(ids.take(pa.array(where)), self.ids.take(pa.array(pos[where]))).to_numpy(
                zero_copy_only=False
            )
            pos[where[~same.astype(bool)]] = -1
        self.matched[pos[pos >= 0]] = True
        return pos

    @staticmethod
    def codes(column: tuple[list[str], np.ndarray], pos: np.ndarray, categories: list[str]) -> np.ndarray:
        """Codes in ``categories`` of a column's value at each ``pos`` (-1: new entity or unknown label)."""
        labels, idx = column
        index = {c: i for i, c in enumerate(categories)}
        lut = np.array([index.get(v, -1) for v in labels] + [-1], dtype=np.int16)
        return lut[np.where(pos >= 0, idx[np.where(pos >= 0, pos, 0)], len(labels))]


def _labels(col: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """A label column as (distinct labels, index of each row's label; the last index for missing)."""
    enc = pc.dictionary_encode(pc.cast(col, pa.string())).combine_chunks()
    labels = [str(v) for v in enc.dictionary.to_pylist()]
    return labels, enc.indices.fill_null(len(labels)).to_numpy(zero_copy_only=False).astype(np.int32)
