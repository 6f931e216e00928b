"""Statistical tests of a rating system, in one place and usable from Python.

Every function takes counts or arrays and is vectorised over grades:

* :func:`jeffreys_pvalue` — calibration of a grade's PD (Basel/ECB practice): the posterior of
  the default rate under the Jeffreys prior is Beta(D + ½, N − D + ½); the p-value is its
  probability mass below the grade's PD. A small p-value says the PD is too low.
* :func:`binomial_pvalue` — the exact one-sided binomial test of the same question:
  P(X ≥ D) for X ~ Binomial(N, PD).
* :func:`two_proportion_pvalue` — whether the worse of two adjacent grades really has the
  higher bad rate (one-sided pooled z-test).
* :func:`hhi` — the Herfindahl–Hirschman concentration index of a distribution over grades.
* :func:`psi` — the population stability index between two distributions over the same bins
  (per characteristic it is called CSI); :func:`stability_flag` reads it with the usual
  0.10 / 0.25 thresholds.
* :func:`ks_statistic` — the Kolmogorov–Smirnov distance between the scores of bads and goods.
* :func:`bootstrap_ci` — a percentile bootstrap confidence interval of any metric of
  (outcome, score), seeded.
* :func:`traffic_light` — green / yellow / red for a calibration p-value (Basel-style).

>>> round(float(jeffreys_pvalue(10, 1000, 0.01)), 4)
0.4791
>>> round(hhi([50, 50]), 2)
0.5
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

from credit_grading.progress import task


def jeffreys_pvalue(defaults, count, pd) -> np.ndarray:
    """P(default rate ≤ PD) under the Jeffreys posterior Beta(D + ½, N − D + ½)."""
    d = np.asarray(defaults, dtype=np.float64)
    n = np.asarray(count, dtype=np.float64)
    return np.asarray(_st.beta.cdf(np.asarray(pd, dtype=np.float64), d + 0.5, n - d + 0.5), dtype=np.float64)


def binomial_pvalue(defaults, count, pd) -> np.ndarray:
    """One-sided exact binomial p-value P(X ≥ D), X ~ Binomial(N, PD)."""
    d = np.asarray(defaults, dtype=np.float64)
    n = np.asarray(count, dtype=np.float64)
    return np.asarray(_st.binom.sf(d - 1, n, np.asarray(pd, dtype=np.float64)), dtype=np.float64)


def two_proportion_pvalue(d1, n1, d2, n2) -> np.ndarray:
    """One-sided p-value that the second group's bad rate exceeds the first's (pooled z-test).

    Groups without rows, or two groups with no bads at all, give a p-value of 1.
    """
    d1, n1, d2, n2 = (np.asarray(v, dtype=np.float64) for v in (d1, n1, d2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = d1 / n1
        p2 = d2 / n2
        pooled = (d1 + d2) / (n1 + n2)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        z = (p2 - p1) / se
    p = _st.norm.sf(z)
    return np.where(np.isfinite(z), p, 1.0)


def hhi(counts) -> float:
    """Herfindahl–Hirschman index Σ sᵢ² of the shares sᵢ (1/k when k groups are equal, 1 at most)."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return float("nan")
    s = c / total
    return float((s * s).sum())


PSI_WARN = 0.10
PSI_ALERT = 0.25


def psi(expected, actual, eps: float = 1e-6) -> float:
    """Population stability index Σ (aᵢ − eᵢ)·ln(aᵢ / eᵢ) of two count (or share) vectors.

    Shares are floored at ``eps`` so that an empty bin does not make the index infinite.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1:
        raise ValueError("psi needs two count vectors over the same bins")
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def stability_flag(value: float) -> str:
    """``stable`` below 0.10, ``watch`` up to 0.25, ``shifted`` above."""
    if value != value:
        return "unknown"
    return "stable" if value < PSI_WARN else "watch" if value < PSI_ALERT else "shifted"


def ks_statistic(y, score) -> float:
    """Largest distance between the cumulative score distributions of bads (y=1) and goods."""
    y = np.asarray(y, dtype=bool)
    x = np.asarray(score, dtype=np.float64)
    if y.all() or not y.any():
        return float("nan")
    return float(_st.ks_2samp(x[y], x[~y]).statistic)


def bootstrap_ci(y, score, metric, *, n: int = 200, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y, score)`` over ``n`` resamples of the rows."""
    y = np.asarray(y)
    score = np.asarray(score)
    rng = np.random.default_rng(seed)
    m = len(y)
    values = np.empty(n)
    with task("bootstrap resamples", total=n) as bar:  # silent unless a training shows progress
        for i in range(n):  # resamples, not rows: each metric call is vectorised over the rows
            idx = rng.integers(0, m, m)
            values[i] = metric(y[idx], score[idx])
            bar.advance()
    lo, hi = np.nanquantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def traffic_light(p_value: float, *, yellow: float = 0.05, red: float = 0.01) -> str:
    """``green`` unless the p-value is below ``yellow`` (``yellow``) or ``red`` (``red``)."""
    if p_value != p_value:
        return "grey"
    return "red" if p_value < red else "yellow" if p_value < yellow else "green"


def rank_moves(counts) -> dict:
    """Moves in a square migration matrix over ranked classes (row = before, column = after,
    best first): upgrades below the diagonal, downgrades above it, and their rates."""
    c = np.asarray(counts, dtype=np.int64)
    up, down, same = int(np.tril(c, -1).sum()), int(np.triu(c, 1).sum()), int(np.trace(c))
    total = up + down + same
    return {"upgrades": up, "downgrades": down, "unchanged": same,
            "upgrade_rate": up / total if total else None, "downgrade_rate": down / total if total else None}  # fmt: skip
