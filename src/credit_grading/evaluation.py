"""Discrimination and calibration figures of a model on labelled rows.

AUC (rank-based, ties averaged), Gini = 2·AUC − 1, KS, Brier score, log loss,
calibration-in-the-large (mean PD minus observed bad rate) and observed versus predicted
PD by decile of predicted risk. Everything vectorised with numpy.

Intervals of a single split's figures: :func:`auc_ci` (DeLong's variance, the normal interval)
for AUC and Gini, a seeded percentile bootstrap for KS (:func:`intervals`). Cross-validated
figures are summarised by :func:`spread` (mean ± standard deviation, fold-level min and max).
"""

from __future__ import annotations

import numpy as np


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) with ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    boundaries = np.flatnonzero(np.diff(xs)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(x)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def auc(y: np.ndarray, risk: np.ndarray) -> float:
    """Area under the ROC curve of ``risk`` (higher = riskier) for outcomes ``y``."""
    y = np.asarray(y, dtype=bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n0 == 0 or n1 == 0:
        return float("nan")
    r = average_ranks(np.asarray(risk, dtype=np.float64))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n0 * n1))


def ks(y: np.ndarray, risk: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance between the risk distributions of bads and goods."""
    y = np.asarray(y, dtype=bool)
    risk = np.asarray(risk, dtype=np.float64)
    order = np.argsort(-risk, kind="mergesort")
    ys, rs = y[order], risk[order]
    cum_bad = np.cumsum(ys) / max(ys.sum(), 1)
    cum_good = np.cumsum(~ys) / max((~ys).sum(), 1)
    last = np.r_[np.diff(rs) != 0, True]  # evaluate only between distinct values
    return float(np.max(np.abs(cum_bad - cum_good)[last]))


def decile_table(y: np.ndarray, pd_: np.ndarray, groups: int = 10) -> list[dict]:
    """Observed bad rate against mean PD in groups of equal size by predicted PD."""
    y = np.asarray(y, dtype=np.float64)
    pd_ = np.asarray(pd_, dtype=np.float64)
    order = np.argsort(pd_, kind="mergesort")
    out = []
    for i, part in enumerate(np.array_split(order, groups)):
        if part.size == 0:
            continue
        out.append(
            {
                "group": i + 1,
                "rows": int(part.size),
                "mean_pd": float(pd_[part].mean()),
                "observed_rate": float(y[part].mean()),
                "pd_from": float(pd_[part].min()),
                "pd_to": float(pd_[part].max()),
            }
        )
    return out


def metrics(y: np.ndarray, pd_: np.ndarray, risk: np.ndarray | None = None) -> dict:
    """AUC, Gini, KS (on ``risk``, default the PD), Brier, log loss and calibration figures."""
    y = np.asarray(y, dtype=np.float64)
    pd_ = np.asarray(pd_, dtype=np.float64)
    risk = pd_ if risk is None else np.asarray(risk, dtype=np.float64)
    a = auc(y, risk)
    p = np.clip(pd_, 1e-15, 1 - 1e-15)
    return {
        "rows": len(y),
        "bad_rate": float(y.mean()),
        "mean_pd": float(pd_.mean()),
        "auc": a,
        "gini": 2 * a - 1,
        "ks": ks(y, risk),
        "brier": float(np.mean((pd_ - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "calibration_in_the_large": float(pd_.mean() - y.mean()),
        "deciles": decile_table(y, pd_),
    }


def auc_ci(y: np.ndarray, risk: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """DeLong's interval of the AUC (Sun & Xu's fast algorithm; normal approximation, clipped to
    [0, 1]). NaN bounds when one outcome is missing or there are fewer than two of either."""
    from scipy.stats import norm

    y = np.asarray(y, dtype=bool)
    risk = np.asarray(risk, dtype=np.float64)
    pos, neg = risk[y], risk[~y]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    tz = average_ranks(np.concatenate([pos, neg]))
    v01 = (tz[:m] - average_ranks(pos)) / n  # per bad: the share of goods ranked below it
    v10 = 1.0 - (tz[m:] - average_ranks(neg)) / m  # per good: the share of bads ranked above it
    a = float(v01.mean())
    se = float(np.sqrt(v01.var(ddof=1) / m + v10.var(ddof=1) / n))
    z = float(norm.ppf(0.5 + level / 2))
    return max(0.0, a - z * se), min(1.0, a + z * se)


def intervals(y: np.ndarray, risk: np.ndarray, *, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> dict:
    """Intervals at ``level`` of AUC and Gini (DeLong) and KS (``n_boot`` seeded bootstrap resamples;
    none when ``n_boot`` is 0)."""
    from credit_grading.stats import bootstrap_ci

    lo, hi = auc_ci(y, risk, level)
    out = {"auc_ci": [lo, hi], "gini_ci": [2 * lo - 1, 2 * hi - 1], "ci_level": level, "ci_method": "delong"}
    if n_boot:
        out["ks_ci"] = list(bootstrap_ci(y, risk, ks, n=n_boot, level=level, seed=seed))
        out["ks_ci_method"] = f"bootstrap ({n_boot} resamples, seed {seed})"
    return out


def spread(values) -> dict:
    """Mean, standard deviation (n − 1), min and max of per-fold figures, and how many folds."""
    v = np.asarray([x for x in values if x == x], dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "sd": None, "min": None, "max": None, "folds": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "min": float(v.min()),
            "max": float(v.max()), "folds": int(v.size)}  # fmt: skip
