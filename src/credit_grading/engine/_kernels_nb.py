"""The numba kernels of :mod:`credit_grading.engine.kernels`, defined at module level.

Imported only when a kernel is first needed (importing it imports numba). Module-level
functions are what numba's on-disk cache can key reliably: compiled once per machine, loaded
from the on-disk cache afterwards (see :mod:`credit_grading._numba_cache`).
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from credit_grading.specs.binning import MISSING, SPECIAL

R_MISSING, R_SPECIAL = MISSING, SPECIAL
TEXT_TABLE_BITS = 12  # the direct-mapped table of encode_text


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


@intrinsic
def load8(typingctx, data, pos):  # pragma: no cover - compiled
    # The 8 bytes at byte position pos of the uint8 array ``data``, read as one little-endian
    # unaligned load (the caller keeps pos + 8 within the array: the buffer is padded).
    sig = types.uint64(data, pos)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def text_key(data, s, e):  # pragma: no cover - compiled
    # The first and the last eight bytes of the string at bytes s..e (zero-padded; the last
    # word is 0 for a string of at most eight bytes): with the length, they are the whole
    # string when it has at most 16 bytes. The mask of the first n bytes is (2^(4n))^2 - 1,
    # which wraps to all ones for n = 8.
    n = e - s
    half = np.uint64(1) << np.uint64(4 * min(n, 8))
    head = load8(data, s) & (half * half - np.uint64(1))
    tail = load8(data, max(e - 8, 0)) & (np.uint64(0) - np.uint64(n > 8))
    return head, tail


@njit(cache=True, nogil=True, inline="always")
def same_middle(data, s, other, t, n):  # pragma: no cover - compiled
    # Whether the strings of n bytes at data[s:] and other[t:] agree on bytes 8 .. n - 8
    # (what text_key leaves out of a string of more than 16 bytes), eight bytes at a time.
    p = 8
    while p < n - 8:
        if load8(data, s + p) != load8(other, t + p):
            return False
        p += 8
    return True


@njit(cache=True, nogil=True, boundscheck=False)
def encode_text(
    offsets,
    data,
    bitmap,
    bit0,
    codes,
    state_table,
    state_head,
    state_tail,
    state_s,
    state_n,
    lv_bytes,
    used,
):  # pragma: no cover - compiled
    # Dictionary-encode one chunk of Arrow strings, its levels shared with the chunks before
    # it: codes[i] is the index of the chunk's row i's string among the distinct strings in
    # order of first appearance, -1 for a null (bit bit0 + i of the validity bitmap clear; no
    # bitmap: no nulls). String i is bytes offsets[i] .. offsets[i + 1] of ``data``, which is
    # readable eight bytes past the last string. The levels found so far are kept in the
    # state arrays: their first and last eight bytes, length and bytes (copied into lv_bytes,
    # padded); used[0] counts them, used[1] the bytes of lv_bytes taken. Returns False when the levels overflow lv_head or lv_bytes (the caller then
    # encodes another way).
    # Made for the few levels of a categorical column: a row's first and last eight bytes
    # and its length pick an entry of a direct-mapped table, and are compared with that
    # level's; only a new level, a clash in the table or the middle bytes of a string longer
    # than 16 bytes take the slow path (a scan of the levels).
    n = codes.shape[0]
    # Work on local copies of the hot state (the compiler then knows no store aliases it).
    table, lv_head, lv_tail = state_table.copy(), state_head.copy(), state_tail.copy()
    lv_s, lv_n = state_s.copy(), state_n.copy()
    shift = np.uint64(64 - TEXT_TABLE_BITS)  # table has 2**TEXT_TABLE_BITS entries
    max_levels = lv_head.shape[0]
    n_levels = used[0]
    masked = bitmap.shape[0] > 0
    for i in range(n):
        if masked:
            j = bit0 + i
            if (bitmap[j >> 3] >> (j & 7)) & 1 == 0:
                codes[i] = -1
                continue
        s = np.int64(offsets[i])
        m = np.int64(offsets[i + 1]) - s
        head, tail = text_key(data, s, s + m)
        h = (head * np.uint64(0x9E3779B97F4A7C15)) ^ (tail * np.uint64(0xBF58476D1CE4E5B9)) ^ np.uint64(m)
        k = np.int64((h * np.uint64(0x94D049BB133111EB)) >> shift)
        c = table[k]
        if c >= 0 and lv_head[c] == head and lv_tail[c] == tail and lv_n[c] == m:  # noqa: SIM102 - the hot test first
            if m <= 16 or same_middle(data, s, lv_bytes, lv_s[c], m):
                codes[i] = c
                continue
        # Slow path: scan the levels (a long string's middle bytes compared too).
        c = -1
        for q in range(n_levels):
            if (
                lv_head[q] == head
                and lv_tail[q] == tail
                and lv_n[q] == m
                and same_middle(data, s, lv_bytes, lv_s[q], m)
            ):
                c = q
                break
        if c < 0:
            if n_levels == max_levels or used[1] + m + 8 > lv_bytes.shape[0]:
                return False
            c = n_levels
            lv_head[c] = head
            lv_tail[c] = tail
            lv_s[c] = used[1]
            lv_n[c] = m
            for b in range(m):
                lv_bytes[used[1] + b] = data[s + b]
            used[1] += m
            n_levels += 1
            if table[k] < 0:
                table[k] = c
        codes[i] = c
    used[0] = n_levels
    state_table[:] = table
    state_head[:] = lv_head
    state_tail[:] = lv_tail
    state_s[:] = lv_s
    state_n[:] = lv_n
    return True


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
