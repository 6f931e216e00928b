"""Adverse-action reason codes: the features with the largest shortfall from their best.

For each row the top-k features by ``max_points[f] − points[row, f]`` (the standard
adverse-action method), most adverse first; ties go to the feature listed first in the
model, so the result is deterministic. Only a positive shortfall is a reason: a row short
of nothing has index -1 in the remaining slots.
"""

from __future__ import annotations

import numpy as np

from credit_grading.engine.kernels import top_k_into


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


def top_k_points(points: np.ndarray, max_points: np.ndarray, k: int, out_idx: np.ndarray, out_val: np.ndarray) -> None:
    """Fill ``out_idx`` / ``out_val`` (rows, k) with the top-k shortfalls of a feature-major
    (features, rows) points block; the same result as :func:`top_k_shortfall`.

    One compiled pass per row (:mod:`credit_grading.engine.kernels`): each row keeps its k
    largest shortfalls in a small insertion list, and only a strictly larger shortfall
    displaces one, so ties keep the feature listed first.
    """
    k = min(k, points.shape[0])
    if k == 0 or points.shape[1] == 0:
        return
    top_k_into(points, max_points, -1.0, k, out_idx, out_val)


def top_k_contributions(contributions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k features pushing risk up, from a (rows, features) matrix of contributions to
    the log-odds (SHAP values): the largest positive contributions, most adverse first,
    ties to the feature listed first, -1 where fewer than k contributions are positive.
    The same format as the scorecard's reasons."""
    n, f = contributions.shape
    k = min(k, f)
    idx = np.empty((n, k), dtype=np.int16)
    val = np.empty((n, k), dtype=np.float64)
    if k and n:
        top_k_into(contributions.T, np.zeros(f), 1.0, k, idx, val)
    return idx, val
