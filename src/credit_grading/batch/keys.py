"""Repeated keys across a whole registry file: in the stream itself, or found before it.

A chunk only sees its own rows, so a key repeated in another chunk would slip through.

Under ``keep_first`` the chunks carry a :class:`SeenKeys` set: each valid key is looked up as its
chunk is validated (the key in the normal form validation reads, see
:mod:`credit_grading.registry.keys`), a key already seen makes its row a duplicate and a new key
is added — one streaming pass, every hit confirmed on the key's bytes and day, never on a hash
alone. Memory: about 4 bytes per key plus the keys' bytes plus a table of 8 bytes per slot (at
most 3/4 full): about 40 bytes per row for 18-character codes, 390 MB for 10M rows.

Under ``reject_all`` the first occurrence of a key is rejected too, which a stream cannot know
when it reaches it: :func:`duplicate_rows` makes one pass over the key columns (the id and
the as-of date) before grading starts. It takes each key in the normal form validation uses (the
id as validation reads it, the date as a day number, so ``"2025-12-31 "`` and a timestamp at
10:00 that day are the same day) and hashes it twice with independent 64-bit hashes — a 128-bit fingerprint, so two different keys collide with probability about
n²/2¹²⁹ — sorts the fingerprints and returns the row numbers to reject under the duplicate
policy: every occurrence but the first (``keep_first``) or every occurrence (``reject_all``).
Memory: 24 bytes per row for the pass (240 MB for 10M rows), released before grading starts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.batch.previous import key_hash
from credit_grading.config import DuplicatePolicy, IdFormat
from credit_grading.registry.keys import NO_DATE, date_days, normal_ids

_SECOND = np.random.default_rng(7919).integers(1, 2**63, size=256, dtype=np.uint64) | np.uint64(1)


def _mix(days: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit hash of each day number (the splitmix64 finaliser, vectorised)."""
    z = days.astype(np.int64).view(np.uint64) + np.uint64(seed)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hashes(
    batch: pa.RecordBatch, id_column: str, as_of_column: str | None, id_format: IdFormat
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each row's normal-form (id, day) key; 0 for a row without an id."""
    ids, missing, _ = normal_ids(batch.column(id_column), id_format)
    h1 = key_hash(ids)
    h2 = key_hash(ids, weights=_SECOND)
    if as_of_column is not None and as_of_column in batch.schema.names:
        parsed = date_days(batch.column(as_of_column))
        if parsed is not None:  # (a column of the wrong type stops validation anyway)
            days = parsed[0]
            with np.errstate(over="ignore"):
                h1 ^= _mix(days, 0x9E3779B97F4A7C15)
                h2 ^= _mix(days, 0xC2B2AE3D27D4EB4F)
    h1[missing] = 0
    h2[missing] = 0
    return h1, h2


def duplicate_rows(
    batches, id_column: str, as_of_column: str | None, policy: DuplicatePolicy, id_format: IdFormat = IdFormat.ANY
) -> np.ndarray:
    """Sorted 0-based row numbers (in the whole file) of the rows the duplicate policy rejects.

    ``batches`` hold the keys in normal form, as
    :meth:`~credit_grading.batch.reader.ChunkReader.key_batches` yields them (ids validation
    rejects are null there); raw key columns are brought to the normal form of ``id_format``.
    """
    h1s, h2s = [], []
    for batch in batches:
        h1, h2 = _hashes(batch, id_column, as_of_column, id_format)
        h1s.append(h1)
        h2s.append(h2)
    if not h1s:
        return np.zeros(0, dtype=np.int64)
    h1 = np.concatenate(h1s)
    h2 = np.concatenate(h2s)
    del h1s, h2s
    order = np.argsort(h1, kind="stable")  # equal keys stay in row order
    s1, s2 = h1[order], h2[order]
    if ((s1[1:] == s1[:-1]) & (s2[1:] != s2[:-1])).any():  # two keys share h1: sort on both hashes
        order = np.lexsort((h2, h1))
        s1, s2 = h1[order], h2[order]
    same = (s1[1:] == s1[:-1]) & (s2[1:] == s2[:-1]) & (s1[1:] != 0)
    if not same.any():
        return np.zeros(0, dtype=np.int64)
    later = np.zeros(len(order), dtype=bool)
    later[1:] = same  # not the first of its key
    if policy == DuplicatePolicy.KEEP_FIRST:
        rows = order[later]
    else:
        first = np.zeros(len(order), dtype=bool)
        first[:-1] = same  # has a repeat after it
        rows = order[later | first]
    return np.sort(rows).astype(np.int64)


def _pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 1).bit_length()


class SeenKeys:
    """The keys seen so far in a stream of chunks: :meth:`repeated` flags and adds (``keep_first``).

    ``expected_rows`` (the file's rows, when known) sizes the set once; it grows as needed.

    >>> import pyarrow as pa, numpy as np
    >>> seen = SeenKeys()
    >>> ok = np.ones(3, dtype=bool)
    >>> seen.repeated(pa.array(["a", "b", "a"]), ok, np.array([1, 1, 1], dtype=np.int32)).tolist()
    [False, False, True]
    >>> seen.repeated(pa.array(["b", "b", "c"]), ok, np.array([1, 2, 1], dtype=np.int32)).tolist()
    [True, False, False]
    """

    def __init__(self, expected_rows: int | None = None) -> None:
        cap = max(int(expected_rows or 0), 1 << 14)
        self.expected = cap
        self.count = 0
        self.used = 0
        self._table = np.zeros(_pow2(cap * 4 // 3 + 1), dtype=np.int64)  # pages untouched until used
        self._starts = np.zeros(cap + 1, dtype=np.uint32)
        self._days = np.empty(cap, dtype=np.int32)
        self._store = np.empty(0, dtype=np.uint8)

    def __len__(self) -> int:
        return self.count

    def _room(self, rows: int, nbytes: int) -> None:
        need = self.count + rows
        if need > len(self._days):
            grow = max(need, 2 * len(self._days))
            self._days = np.concatenate([self._days[: self.count], np.empty(grow - self.count, np.int32)])
            self._starts = np.concatenate([self._starts[: self.count + 1],
                                           np.zeros(grow - self.count, self._starts.dtype)])  # fmt: skip
        if self.used + nbytes >= np.iinfo(self._starts.dtype).max:
            self._starts = self._starts.astype(np.int64)
        if self.used + nbytes > len(self._store):
            per_row = nbytes / max(rows, 1)
            grow = max(self.used + nbytes, 2 * len(self._store), int(per_row * self.expected * 1.05) + 64)
            store = np.empty(grow, dtype=np.uint8)
            store[: self.used] = self._store[: self.used]
            self._store = store
        if need * 4 > len(self._table) * 3:
            from credit_grading.batch._keyset_nb import rehash

            self._table = np.zeros(_pow2(need * 8 // 3 + 1), dtype=np.int64)
            rehash(self._starts, self._store, self._days, self.count, self._table)

    def repeated(self, ids: pa.Array, ok: np.ndarray, days: np.ndarray | None) -> np.ndarray:
        """Mask of the rows (among ``ok``) whose key (normal-form id, day) was seen before; the
        others' keys are added. ``days``: the day numbers, ``None`` when the key is the id alone."""
        from credit_grading.batch._keyset_nb import add_keys

        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        n = len(ids)
        out = np.zeros(n, dtype=bool)
        if n == 0:
            return out
        large = pa.types.is_large_string(ids.type) or pa.types.is_large_binary(ids.type)
        buffers = ids.buffers()
        offsets = np.frombuffer(buffers[1], dtype=np.int64 if large else np.int32)[ids.offset : ids.offset + n + 1]
        base = int(offsets[0])
        data = np.frombuffer(buffers[2], dtype=np.uint8)[base : int(offsets[-1])] if buffers[2] is not None else (
            np.zeros(0, np.uint8))  # fmt: skip
        ok = np.asarray(ok, dtype=bool)
        if ids.null_count:
            ok = ok & ~np.asarray(ids.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        day = np.zeros(n, dtype=np.int32) if days is None else np.ascontiguousarray(days, dtype=np.int32)
        self._room(int(ok.sum()), len(data))
        self.count, self.used = add_keys(offsets.astype(np.int64), data, np.int64(base), day, ok, self._table,
                                         self._starts, self._store, self._days, np.int64(self.count),
                                         np.int64(self.used), out)  # fmt: skip
        return out

    def add_batches(self, batches, id_column: str, as_of_column: str | None, rows: int) -> None:
        """Add the keys of the first ``rows`` rows of ``batches`` (as
        :meth:`~credit_grading.batch.reader.ChunkReader.key_batches` yields them: the ids
        validation rejects are null) — how a resumed job sees the keys of the chunks it skips."""
        left = rows
        for batch in batches:
            if left <= 0:
                break
            if batch.num_rows > left:
                batch = batch.slice(0, left)
            left -= batch.num_rows
            ids = batch.column(id_column)
            days = None
            if as_of_column is not None and as_of_column in batch.schema.names:
                col = batch.column(as_of_column)
                days = pc.cast(col, pa.int32()).fill_null(NO_DATE).to_numpy(zero_copy_only=False)
            self.repeated(ids, np.ones(batch.num_rows, dtype=bool), days)
