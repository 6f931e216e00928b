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


_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)


def _hashes(batch: pa.RecordBatch, id_column: str, as_of_column: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each row's (id, as-of) key; 0 for a row without an id."""
    ids = batch.column(id_column)
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(ids.type.value_type)
    ids = pc.cast(ids, pa.string())
    valid = pc.and_(pc.is_valid(ids), pc.not_equal(pc.utf8_length(pc.utf8_trim_whitespace(ids)), 0)).fill_null(False)
    h1 = key_hash(ids)
    h2 = key_hash(ids, weights=_SECOND)
    if as_of_column is not None and as_of_column in batch.schema.names:
        day = batch.column(as_of_column)
        mm = pc.min_max(day)
        if day.null_count == 0 and mm["min"] == mm["max"]:  # one snapshot: hash its date once
            text = pa.array([str(mm["min"].as_py())], type=pa.string())
            d1, d2 = key_hash(text)[0], key_hash(text, weights=_SECOND)[0]
        else:
            text = pc.cast(day, pa.string()).fill_null("")
            d1, d2 = key_hash(text), key_hash(text, weights=_SECOND)
        with np.errstate(over="ignore"):
            h1 = h1 ^ (d1 * _MIX1)
            h2 = h2 ^ (d2 * _MIX2)
    ok = np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)
    h1[~ok] = 0
    h2[~ok] = 0
    return h1, h2


def duplicate_rows(batches, id_column: str, as_of_column: str | None, policy: DuplicatePolicy) -> np.ndarray:
    """Sorted 0-based row numbers (in the whole file) of the rows the duplicate policy rejects."""
    h1s, h2s = [], []
    for batch in batches:
        h1, h2 = _hashes(batch, id_column, as_of_column)
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
