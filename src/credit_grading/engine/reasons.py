"""Adverse-action reason codes: the features with the largest shortfall from their best.

For each row the top-k features by ``max_points[f] − points[row, f]`` (the standard
adverse-action method), most adverse first; ties go to the feature listed first in the
model, so the result is deterministic. Only a positive shortfall is a reason: a row short
of nothing has index -1 in the remaining slots.
"""

from __future__ import annotations

import numpy as np


def top_k_shortfall(shortfall: np.ndarray, k: int, *, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns per row of a (rows, features) shortfall matrix.

    Runs k vectorised ``argmax`` passes along the contiguous feature axis; ``argmax``
    returns the first of equal values, which breaks ties by feature order. With
    ``overwrite=True`` the input (C-contiguous float64) is used as scratch space.

    Returns
    -------
    index : (rows, k) int16, -1 where there is no positive shortfall
    value : (rows, k) float64, the shortfall (0 where index is -1)
    """
    n, f = shortfall.shape
    k = min(k, f)
    if overwrite and shortfall.dtype == np.float64 and shortfall.flags.c_contiguous:
        work = shortfall
    else:
        work = np.array(shortfall, dtype=np.float64, order="C", copy=True)
    flat = work.reshape(-1)
    index = np.empty((n, k), dtype=np.int16)
    value = np.empty((n, k), dtype=np.float64)
    base = np.arange(n, dtype=np.intp) * f
    for j in range(k):
        at = base + np.argmax(work, axis=1)
        val = flat[at]
        none = ~(val > 0)
        val[none] = 0.0
        idx = (at - base).astype(np.int16)
        idx[none] = -1
        index[:, j] = idx
        value[:, j] = val
        if j + 1 < k:
            flat[at] = -np.inf
    return index, value


# ---------------------------------------------------------------------------------------
# The fast path used by the engine: one compiled pass per row (numba, compiled on first use
# and cached on disk). Each row keeps its k largest shortfalls in a small insertion list;
# only a strictly larger shortfall displaces one, so ties keep the feature listed first,
# exactly as :func:`top_k_shortfall` does. The kernel releases the GIL, so the engine's
# worker threads rank their blocks in parallel.

_KERNEL = None


def _compile():
    global _KERNEL
    if _KERNEL is None:
        from numba import njit

        @njit(cache=True, nogil=True)
        def kernel(points, max_points, k, out_idx, out_val):  # pragma: no cover - compiled
            nf, n = points.shape
            vals = np.empty(k, dtype=np.float64)
            idxs = np.empty(k, dtype=np.int16)
            for r in range(n):
                for j in range(k):
                    vals[j] = 0.0
                    idxs[j] = -1
                for f in range(nf):
                    s = max_points[f] - points[f, r]
                    if s > vals[k - 1]:
                        pos = k - 1
                        while pos > 0 and s > vals[pos - 1]:
                            vals[pos] = vals[pos - 1]
                            idxs[pos] = idxs[pos - 1]
                            pos -= 1
                        vals[pos] = s
                        idxs[pos] = f
                for j in range(k):
                    out_idx[r, j] = idxs[j]
                    out_val[r, j] = vals[j]

        _KERNEL = kernel
    return _KERNEL


def top_k_points(points: np.ndarray, max_points: np.ndarray, k: int, out_idx: np.ndarray, out_val: np.ndarray) -> None:
    """Fill ``out_idx`` / ``out_val`` (rows, k) with the top-k shortfalls of a feature-major
    (features, rows) points block; same result as :func:`top_k_shortfall`."""
    k = min(k, points.shape[0])
    if k == 0 or points.shape[1] == 0:
        return
    _compile()(points, max_points, k, out_idx, out_val)
