"""Calibration of a model output to a 12-month PD, as plain data.

``input`` is what is calibrated (``score``: scorecard points, where more points mean less
risk; ``margin``: the GBM's raw log-odds). The spec maps ``x = direction · input`` to a PD
that never decreases in ``x`` and stays strictly inside (0, 1):

* ``platt``: PD = 1 / (1 + exp(−(a·x + b))) with a > 0;
* ``isotonic``: PD interpolated linearly between increasing knots, constant beyond them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from credit_grading.specs._io import JsonSpec, check_format

FORMAT = "credit_grading.calibration"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CalibrationSpec(JsonSpec):
    method: str  # "platt" | "isotonic"
    input: str  # "score" | "margin"
    direction: float  # +1 or -1
    a: float = 0.0
    b: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    min_pd: float = 1e-5
    meta: dict | None = None

    def apply(self, values: np.ndarray) -> np.ndarray:
        """The PD of each value (vectorised)."""
        x = self.direction * np.asarray(values, dtype=np.float64)
        if self.method == "platt":
            pd_ = np.exp(-np.logaddexp(0.0, -(self.a * x + self.b)))  # sigmoid without overflow
        else:
            pd_ = np.interp(x, np.asarray(self.knots_x), np.asarray(self.knots_y))
        return np.clip(pd_, self.min_pd, 1.0 - self.min_pd)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "method": self.method,
            "input": self.input,
            "direction": self.direction,
            "a": self.a,
            "b": self.b,
            "knots_x": list(self.knots_x),
            "knots_y": list(self.knots_y),
            "min_pd": self.min_pd,
            "meta": self.meta or {},
        }

    @classmethod
    def from_dict(cls, d: dict) -> CalibrationSpec:
        check_format(d, FORMAT, FORMAT_VERSION)
        return cls(
            method=d["method"],
            input=d["input"],
            direction=float(d["direction"]),
            a=float(d["a"]),
            b=float(d["b"]),
            knots_x=tuple(float(v) for v in d["knots_x"]),
            knots_y=tuple(float(v) for v in d["knots_y"]),
            min_pd=float(d["min_pd"]),
            meta=d.get("meta") or {},
        )
