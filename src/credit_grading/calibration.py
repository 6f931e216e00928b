"""Fitting the calibration of a model output to a 12-month PD (Platt or isotonic).

Always fitted on rows the model was not trained on (the validation split). The result is a
:class:`~credit_grading.specs.calibration.CalibrationSpec`: PD non-decreasing in risk and
strictly inside (0, 1).
"""

from __future__ import annotations

import numpy as np

from credit_grading.exceptions import DataError
from credit_grading.specs.calibration import CalibrationSpec


def fit_calibration(
    values: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "platt",
    input: str = "margin",
    direction: float = 1.0,
    min_pd: float = 1e-5,
) -> CalibrationSpec:
    """Calibrate ``values`` (risk grows with ``direction · values``) to the outcomes ``y``."""
    x = direction * np.asarray(values, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError("calibration needs one value and one outcome per row")
    if not np.isfinite(x).all():
        raise DataError("calibration inputs must be finite")
    if y.min() == y.max():
        raise DataError("calibration needs both outcomes among its rows")
    meta = {"rows": len(y), "events": int(y.sum())}
    if str(method) == "platt":
        from sklearn.linear_model import LogisticRegression

        scale = float(np.std(x)) or 1.0
        model = LogisticRegression(C=1e6, max_iter=1000)
        model.fit((x / scale)[:, None], y)
        a = float(model.coef_[0, 0]) / scale
        b = float(model.intercept_[0])
        if not a > 0:
            raise DataError(
                f"the {input} does not rise with risk on the calibration rows (slope {a:.4g}); "
                "the model is unusable or the direction is wrong"
            )
        return CalibrationSpec("platt", input, float(direction), a=a, b=b, min_pd=min_pd, meta=meta)
    if str(method) == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=min_pd, y_max=1 - min_pd)
        iso.fit(x, y)
        kx = np.asarray(iso.X_thresholds_, dtype=np.float64)
        ky = np.clip(np.asarray(iso.y_thresholds_, dtype=np.float64), min_pd, 1 - min_pd)
        return CalibrationSpec("isotonic", input, float(direction), knots_x=tuple(kx), knots_y=tuple(ky),
                               min_pd=min_pd, meta=meta)  # fmt: skip
    raise DataError(f"unknown calibration method {method!r}; use platt or isotonic")
