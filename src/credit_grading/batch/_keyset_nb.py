"""The seen-keys set of a streaming duplicate check, as compiled passes (imported on first use).

Open addressing with linear probing. A slot holds 0 (empty) or ``(entry + 1) << 24 | h >> 40``:
the entry's number and 24 bits of its hash, so most probes that miss never read a stored key.
A key is its bytes (the id in normal form) and its day; a hit is confirmed on both.
"""

from credit_grading._numba_cache import configure_numba_cache

configure_numba_cache()  # before numba is imported: its kernel cache goes to a private directory

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from credit_grading.engine._kernels_nb import load8  # noqa: E402

_TAG_BITS = 24
_TAG_MASK = (1 << _TAG_BITS) - 1


@njit(cache=True, nogil=True, inline="always")
def _hash(data, s, e, day):  # pragma: no cover - compiled
    # Eight bytes at a time (one unaligned load per whole word inside s..e, never past e), the
    # last few bytes one by one; then the day and a final mix.
    h = np.uint64(0xCBF29CE484222325) ^ np.uint64(e - s)
    p = s
    while p + 8 <= e:
        h = (h ^ load8(data, p)) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
        p += 8
    while p < e:
        h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
        p += 1
    z = h ^ (np.uint64(np.int64(day) & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def add_keys(offsets, data, base, days, ok, table, starts, store, entry_days, count, used, out):  # pragma: no cover
    # For each row i with ok[i]: out[i] = True when its key (bytes, day) is already in the set,
    # else the key is added. Returns the new (count, used). The caller makes room first: the
    # table at most 3/4 full after the call, ``starts``/``entry_days`` for ``count + n`` entries
    # and ``store`` for ``used`` plus the chunk's bytes.
    # Three passes: hashes, probes (keys added in this call are compared where they are, in
    # ``data``), then the new keys copied to the store — the probes' cache misses overlap only
    # when nothing else of variable length runs between them.
    n_rows = out.shape[0]
    mask = np.uint64(table.shape[0] - 1)
    hashes = np.empty(n_rows, dtype=np.uint64)
    for i in range(n_rows):
        hashes[i] = _hash(data, offsets[i] - base, offsets[i + 1] - base, days[i])
    first = count
    new_rows = np.empty(n_rows, dtype=np.int64)
    for i in range(n_rows):
        if not ok[i]:
            continue
        s = offsets[i] - base
        n = offsets[i + 1] - base - s
        day = days[i]
        h = hashes[i]
        tag = np.int64(h >> np.uint64(40))
        slot = h & mask
        found = False
        while True:
            v = table[slot]
            if v == 0:
                break
            if (v & 0xFFFFFF) == tag:
                k = (v >> 24) - 1
                if k >= first:  # added in this call: its bytes are in this chunk
                    r = new_rows[k - first]
                    same = days[r] == day and offsets[r + 1] - offsets[r] == n
                    if same:
                        rs = offsets[r] - base
                        for p in range(n):
                            if data[rs + p] != data[s + p]:
                                same = False
                                break
                else:
                    ks = starts[k]
                    same = entry_days[k] == day and starts[k + 1] - ks == n
                    if same:
                        for p in range(n):
                            if store[ks + p] != data[s + p]:
                                same = False
                                break
                if same:
                    found = True
                    break
            slot = (slot + np.uint64(1)) & mask
        if found:
            out[i] = True
            continue
        table[slot] = ((count + 1) << 24) | tag
        new_rows[count - first] = i
        count += 1
    for j in range(count - first):
        r = new_rows[j]
        s = offsets[r] - base
        n = offsets[r + 1] - base - s
        store[used : used + n] = data[s : s + n]
        entry_days[first + j] = days[r]
        used += n
        starts[first + j + 1] = used
    return count, used


@njit(cache=True, nogil=True)
def rehash(starts, store, entry_days, count, table):  # pragma: no cover - compiled
    # Put entries 0..count-1 into an empty (all zero) ``table``.
    mask = np.uint64(table.shape[0] - 1)
    for k in range(count):
        h = _hash(store, starts[k], starts[k + 1], entry_days[k])
        slot = h & mask
        while table[slot] != 0:
            slot = (slot + np.uint64(1)) & mask
        table[slot] = ((k + 1) << 24) | np.int64(h >> np.uint64(40))
