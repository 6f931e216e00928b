"""Repeated keys across a whole registry file, found before it is streamed chunk by chunk.

A chunk only sees its own rows, so a key repeated in another chunk would slip through. One
pass over the key columns (the id and the as-of date) hashes every key twice with independent
64-bit hashes — a 128-bit fingerprint, so two different keys collide with probability about
n²/2¹²⁹ — sorts the fingerprints and returns the row numbers to reject under the duplicate
policy: every occurrence but the first (``keep_first``) or every occurrence (``reject_all``).
Memory: 24 bytes per row for the pass (240 MB for 10M rows), released before grading starts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.batch.previous import key_hash
from credit_grading.config import DuplicatePolicy

_SECOND = np.random.default_rng(7919).integers(1, 2**63, size=256, dtype=np.uint64) | np.uint64(1)


def _keys(batch: pa.RecordBatch, id_column: str, as_of_column: str | None) -> tuple[pa.Array, np.ndarray]:
    ids = batch.column(id_column)
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(ids.type.value_type)
    ids = pc.cast(ids, pa.string())
    valid = pc.and_(pc.is_valid(ids), pc.not_equal(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0)).fill_null(False)
    key = ids
    if as_of_column is not None and as_of_column in batch.schema.names:
        day = pc.cast(batch.column(as_of_column), pa.string()).fill_null("")
        key = pc.binary_join_element_wise(ids, day, "|")
    return key, np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)


def duplicate_rows(batches, id_column: str, as_of_column: str | None, policy: DuplicatePolicy) -> np.ndarray:
    """Sorted 0-based row numbers (in the whole file) of the rows the duplicate policy rejects."""
    h1s, h2s = [], []
    for batch in batches:
        key, valid = _keys(batch, id_column, as_of_column)
        h1 = key_hash(key)
        h2 = key_hash(key, weights=_SECOND)
        h1[~valid] = 0
        h2[~valid] = 0
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
