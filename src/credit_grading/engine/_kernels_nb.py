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
