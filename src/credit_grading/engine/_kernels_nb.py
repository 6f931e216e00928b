"""The numba kernels of :mod:`credit_grading.engine.kernels`, defined at module level.

Imported only when a kernel is first needed (importing it imports numba). Module-level
functions are what numba's on-disk cache can key reliably: compiled once per machine, loaded
from the on-disk cache afterwards (see :mod:`credit_grading._numba_cache`).
"""

import numpy as np
from numba import njit

from credit_grading.specs.binning import MISSING, SPECIAL

R_MISSING, R_SPECIAL = MISSING, SPECIAL


@njit(cache=True, nogil=True, inline="always")
def slot_of(v, splits, specials, r):  # pragma: no cover - compiled
    # Branch-free count of the splits reached (vectorises well); then the exceptions.
    s = 0
    for c in range(splits.shape[0]):
        s += v >= splits[c]
    for c in range(specials.shape[0]):
        if v == specials[c]:
            s = r + R_SPECIAL
    if v != v:
        s = r + R_MISSING
    return s


@njit(cache=True, nogil=True)
def numeric_slots(x, missing, splits, specials, out):  # pragma: no cover - compiled
    r = splits.shape[0] + 1
    if missing.shape[0] > 0:
        for i in range(x.shape[0]):
            out[i] = r + R_MISSING if missing[i] else slot_of(np.float64(x[i]), splits, specials, r)
    else:
        for i in range(x.shape[0]):
            out[i] = slot_of(np.float64(x[i]), splits, specials, r)


@njit(cache=True, nogil=True)
def numeric_points(x, missing, splits, specials, lut, out):  # pragma: no cover - compiled
    r = splits.shape[0] + 1
    if missing.shape[0] > 0:
        for i in range(x.shape[0]):
            s = r + R_MISSING if missing[i] else slot_of(np.float64(x[i]), splits, specials, r)
            out[i] = lut[s]
    else:
        for i in range(x.shape[0]):
            out[i] = lut[slot_of(np.float64(x[i]), splits, specials, r)]


@njit(cache=True, nogil=True)
def top_k(values, offsets, sign, k, out_idx, out_val):  # pragma: no cover - compiled
    # Per row, the k largest of offsets[f] + sign * values[f, row] that are positive.
    nf, n = values.shape
    vals = np.empty(k, dtype=np.float64)
    idxs = np.empty(k, dtype=np.int16)
    for row in range(n):
        for j in range(k):
            vals[j] = 0.0
            idxs[j] = -1
        for f in range(nf):
            s = offsets[f] + sign * values[f, row]
            if s > vals[k - 1]:
                pos = k - 1
                while pos > 0 and s > vals[pos - 1]:
                    vals[pos] = vals[pos - 1]
                    idxs[pos] = idxs[pos - 1]
                    pos -= 1
                vals[pos] = s
                idxs[pos] = f
        for j in range(k):
            out_idx[row, j] = idxs[j]
            out_val[row, j] = vals[j]


@njit(cache=True, nogil=True)
def hash_strings(offsets, data, base, weights, out):  # pragma: no cover - compiled
    # A 64-bit position-weighted hash of each string data[offsets[i] - base : offsets[i + 1] - base].
    m = weights.shape[0]
    for i in range(out.shape[0]):
        s = offsets[i] - base
        e = offsets[i + 1] - base
        h = np.uint64(e - s) * np.uint64(0x9E3779B97F4A7C15)
        for p in range(e - s):
            h += (np.uint64(data[s + p]) + np.uint64(1)) * weights[p % m] + np.uint64(p)
        out[i] = h


@njit(cache=True, nogil=True, inline="always")
def load_word(words, pos):  # pragma: no cover - compiled
    # The 8 bytes at byte position pos of the buffer ``words`` (little-endian, unaligned;
    # branch-free: the second shift is by 64 when pos is aligned, which gives 0).
    q = pos >> 3
    r = np.uint64(8 * (pos & 7))
    return (words[q] >> r) | ((words[q + 1] << np.uint64(1)) << (np.uint64(63) - r))


@njit(cache=True, nogil=True, inline="always")
def text_word(words, s, e, w):  # pragma: no cover - compiled
    # Word w of the string at bytes s..e, its bytes past e cleared.
    left = e - s - 8 * w
    v = load_word(words, s + 8 * w)
    if left < 8:
        v &= np.uint64(0xFFFFFFFFFFFFFFFF) >> np.uint64(64 - 8 * left)
    return v


@njit(cache=True, nogil=True, inline="always")
def text_key(words, s, e):  # pragma: no cover - compiled
    # The first and the last eight bytes of the string at bytes s..e (zero-padded; the last
    # word is 0 for a string of at most eight bytes): with the length, they are the whole
    # string when it has at most 16 bytes. Branch-free: the mask of the first n bytes is
    # (2^(4n))^2 - 1, which wraps to all ones for n = 8.
    n = e - s
    half = np.uint64(1) << np.uint64(4 * min(n, 8))
    head = load_word(words, s) & (half * half - np.uint64(1))
    tail = load_word(words, max(e - 8, 0)) & (np.uint64(0) - np.uint64(n > 8))
    return head, tail


@njit(cache=True, nogil=True, boundscheck=False)
def encode_text(offsets, base, words, bitmap, bit0, codes, max_levels):  # pragma: no cover - compiled
    # Dictionary-encode Arrow strings: codes[i] is the index of row i's string among the
    # distinct strings in order of first appearance, -1 for a null (bit bit0 + i of the
    # validity bitmap clear; no bitmap: no nulls). String i is bytes offsets[i] - base ..
    # offsets[i + 1] - base of ``words`` (padded by two words past the end). Returns each
    # distinct string's first row, or an empty array when there are more than max_levels
    # (the caller then encodes another way).
    # Made for the few levels of a categorical column: a row's first and last eight bytes
    # and its length pick an entry of a direct-mapped table, and are compared with that
    # level's without branches; only a new level, a clash in the table or the middle bytes
    # of a string longer than 16 bytes take the slow path (a scan of the levels).
    n = codes.shape[0]
    bits = 12
    table = np.full(1 << bits, -1, dtype=np.int64)
    lv_head = np.empty(max_levels, dtype=np.uint64)
    lv_tail = np.empty(max_levels, dtype=np.uint64)
    lv_s = np.empty(max_levels, dtype=np.int64)
    lv_n = np.empty(max_levels, dtype=np.int64)
    first = np.empty(max_levels, dtype=np.int64)
    n_levels = 0
    masked = bitmap.shape[0] > 0
    for i in range(n):
        if masked:
            j = bit0 + i
            if (bitmap[j >> 3] >> (j & 7)) & 1 == 0:
                codes[i] = -1
                continue
        s = np.int64(offsets[i] - base)
        e = np.int64(offsets[i + 1] - base)
        head, tail = text_key(words, s, e)
        h = (head * np.uint64(0x9E3779B97F4A7C15)) ^ (tail * np.uint64(0xBF58476D1CE4E5B9)) ^ np.uint64(e - s)
        k = np.int64((h * np.uint64(0x94D049BB133111EB)) >> np.uint64(64 - bits))
        c = table[k]
        if c >= 0 and lv_head[c] == head and lv_tail[c] == tail and lv_n[c] == e - s:
            same = True
            for w in range(1, ((e - s - 9) >> 3) + 1):  # the middle words of a string of over 16 bytes
                if text_word(words, s, e, w) != text_word(words, lv_s[c], lv_s[c] + lv_n[c], w):
                    same = False
                    break
            if same:
                codes[i] = c
                continue
        # Slow path: scan the levels (a long string's middle bytes compared too).
        c = -1
        for q in range(n_levels):
            if lv_head[q] == head and lv_tail[q] == tail and lv_n[q] == e - s:
                same = True
                for w in range(1, (e - s + 7) >> 3):
                    if text_word(words, s, e, w) != text_word(words, lv_s[q], lv_s[q] + lv_n[q], w):
                        same = False
                        break
                if same:
                    c = q
                    break
        if c < 0:
            if n_levels == max_levels:
                return np.empty(0, dtype=np.int64)
            c = n_levels
            lv_head[c] = head
            lv_tail[c] = tail
            lv_s[c] = s
            lv_n[c] = e - s
            first[c] = i
            n_levels += 1
            if table[k] < 0:
                table[k] = c
        codes[i] = c
    return first[:n_levels].copy()


@njit(cache=True, nogil=True)
def numeric_points_add(x, missing, splits, specials, lut, total, first):  # pragma: no cover - compiled
    # numeric_points added into total (assigned when first): a row's total without storing
    # the feature's points.
    r = splits.shape[0] + 1
    if missing.shape[0] > 0:
        for i in range(x.shape[0]):
            p = lut[r + R_MISSING if missing[i] else slot_of(np.float64(x[i]), splits, specials, r)]
            total[i] = p if first else total[i] + p
    else:
        for i in range(x.shape[0]):
            p = lut[slot_of(np.float64(x[i]), splits, specials, r)]
            total[i] = p if first else total[i] + p


@njit(cache=True, nogil=True)
def level_points_add(codes, lut, total, first):  # pragma: no cover - compiled
    # Points of each row's level code added into total (assigned when first); code -1
    # (missing) picks the last entry of lut.
    last = lut.shape[0] - 1
    for i in range(codes.shape[0]):
        c = codes[i]
        p = lut[c if c >= 0 else last]
        total[i] = p if first else total[i] + p
