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

>>> round(float(jeffreys_pvalue(10, 1000, 0.01)), 4)
0.5328
>>> round(hhi([50, 50]), 2)
0.5
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st


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
