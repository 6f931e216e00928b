"""Compiled kernels of the scoring core (numba, compiled on first use, cached on disk).

Why numba: it compiles these small loops to machine code on every platform numpy runs on,
ships as ordinary wheels (no compiler needed at install time), and its on-disk cache makes
the one-time compilation (about a second per kernel and input type) a first-run cost only.
The kernels release the GIL, so the engine's worker threads run them in parallel. numba is
imported only when a kernel is first needed, so importing the package stays light.

Each kernel makes one pass over the rows of one feature (no per-bin masks): a value's bin
is the number of the feature's sorted splits it reaches, counted without branches, which
follows optbinning's rule ``splits[i-1] <= x < splits[i]`` (±inf go to the outer bins);
then a special code or a missing value (NaN, or a null in the mask) takes its own slot.
"""

from __future__ import annotations

import numpy as np

from credit_grading.specs.binning import MISSING, SPECIAL

_KERNELS: dict[str, object] = {}


def _build() -> dict[str, object]:
    if _KERNELS:
        return _KERNELS
    from numba import njit

    r_missing, r_special = MISSING, SPECIAL

    @njit(cache=True, nogil=True, inline="always")
    def slot_of(v, splits, specials, r):  # pragma: no cover - compiled
        # Branch-free count of the splits reached (vectorises well); then the exceptions.
        s = 0
        for c in range(splits.shape[0]):
            s += v >= splits[c]
        for c in range(specials.shape[0]):
            if v == specials[c]:
                s = r + r_special
        if v != v:
            s = r + r_missing
        return s

    @njit(cache=True, nogil=True)
    def numeric_slots(x, missing, splits, specials, out):  # pragma: no cover - compiled
        r = splits.shape[0] + 1
        if missing.shape[0] > 0:
            for i in range(x.shape[0]):
                out[i] = r + r_missing if missing[i] else slot_of(np.float64(x[i]), splits, specials, r)
        else:
            for i in range(x.shape[0]):
                out[i] = slot_of(np.float64(x[i]), splits, specials, r)

    @njit(cache=True, nogil=True)
    def numeric_points(x, missing, splits, specials, lut, out):  # pragma: no cover - compiled
        r = splits.shape[0] + 1
        if missing.shape[0] > 0:
            for i in range(x.shape[0]):
                s = r + r_missing if missing[i] else slot_of(np.float64(x[i]), splits, specials, r)
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

    _KERNELS.update(numeric_slots=numeric_slots, numeric_points=numeric_points, top_k=top_k)
    return _KERNELS


_NO_MASK = np.zeros(0, dtype=np.bool_)


def _prepare(x: np.ndarray, missing: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    if x.dtype.kind == "b":
        x = x.view(np.uint8)
    elif x.dtype.kind not in "iuf":
        x = x.astype(np.float64)
    return x, (_NO_MASK if missing is None else np.asarray(missing, dtype=np.bool_))


def numeric_slots_into(x, missing, splits, specials, out) -> None:
    x, missing = _prepare(x, missing)
    _build()["numeric_slots"](x, missing, splits, specials, out)


def numeric_points_into(x, missing, splits, specials, lut, out) -> None:
    x, missing = _prepare(x, missing)
    _build()["numeric_points"](x, missing, splits, specials, lut, out)


def top_k_into(values, offsets, sign, k, out_idx, out_val) -> None:
    _build()["top_k"](values, np.ascontiguousarray(offsets, dtype=np.float64), float(sign), k, out_idx, out_val)
