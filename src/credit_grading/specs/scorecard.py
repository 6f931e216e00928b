"""The fitted scorecard as plain data: features, coefficients and points per bin.

The scaling is optbinning's ``pdo_odds`` method: with ``factor = pdo / ln 2`` and
``offset = base_score − factor · ln(odds)``, a bin with WoE ``w`` of a feature with
coefficient ``c`` among ``n`` features scores ``−(c·w + intercept/n)·factor + offset/n``.
A :class:`ScorecardSpec` round-trips through JSON exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from credit_grading.specs._io import JsonSpec, check_format
from credit_grading.specs.binning import FeatureBinning

FORMAT = "credit_grading.scorecard"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ScorecardFeature:
    """One feature of a scorecard: its binning, coefficient and points per bin."""

    binning: FeatureBinning
    coefficient: float
    points: tuple[float, ...]  # per bin, binning table order (regular..., special, missing)
    unseen_points: float
    name_zh: str = ""
    name_en: str = ""

    @property
    def name(self) -> str:
        return self.binning.name

    @property
    def max_points(self) -> float:
        """The most points this feature gives among bins seen in training."""
        seen = [p for p, b in zip(self.points, self.binning.bins, strict=True) if b.count > 0]
        return float(max(seen)) if seen else float(max(self.points))

    def slot_points(self) -> np.ndarray:
        return self.binning.slot_values(np.asarray(self.points, dtype=np.float64), self.unseen_points)


@dataclass(frozen=True)
class ScorecardSpec(JsonSpec):
    """A fitted scorecard as plain data."""

    features: tuple[ScorecardFeature, ...]
    intercept: float
    pdo: float = 20.0
    odds: float = 50.0
    base_score: float = 600.0
    rounding: bool = False
    missing_woe: str = "empirical"
    unseen_level: str = "neutral"
    meta: dict = field(default_factory=dict)

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.odds)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def by_name(self) -> dict[str, ScorecardFeature]:
        return {f.name: f for f in self.features}

    def pd_from_score(self, score: np.ndarray) -> np.ndarray:
        """The logistic regression's own PD for a score (before any calibration)."""
        z = (np.asarray(score, dtype=np.float64) - self.offset) / self.factor
        return np.exp(-np.logaddexp(0.0, z))  # 1 / (1 + e^z) without overflow

    def points_table(self) -> pd.DataFrame:
        """Feature, bin, range or levels, count, event rate, WoE, IV and points."""
        rows = []
        woe_mode = self.missing_woe
        for f in self.features:
            woe = f.binning.woe_by_bin(woe_mode)
            for i, (b, p) in enumerate(zip(f.binning.bins, f.points, strict=True)):
                rows.append(
                    {
                        "feature": f.name,
                        "name_zh": f.name_zh,
                        "name_en": f.name_en,
                        "bin": i,
                        "kind": b.kind,
                        "range_or_levels": b.label,
                        "count": b.count,
                        "event_rate": b.event_rate,
                        "woe": float(woe[i]),
                        "iv": b.iv,
                        "coefficient": f.coefficient,
                        "points": p,
                    }
                )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "intercept": self.intercept,
            "pdo": self.pdo,
            "odds": self.odds,
            "base_score": self.base_score,
            "rounding": self.rounding,
            "missing_woe": self.missing_woe,
            "unseen_level": self.unseen_level,
            "meta": self.meta,
            "features": [
                {
                    "binning": f.binning.to_dict(),
                    "coefficient": f.coefficient,
                    "points": list(f.points),
                    "unseen_points": f.unseen_points,
                    "name_zh": f.name_zh,
                    "name_en": f.name_en,
                }
                for f in self.features
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ScorecardSpec:
        check_format(d, FORMAT, FORMAT_VERSION)
        feats = tuple(
            ScorecardFeature(
                binning=FeatureBinning.from_dict(f["binning"]),
                coefficient=float(f["coefficient"]),
                points=tuple(float(p) for p in f["points"]),
                unseen_points=float(f["unseen_points"]),
                name_zh=f.get("name_zh", ""),
                name_en=f.get("name_en", ""),
            )
            for f in d["features"]
        )
        return cls(
            features=feats,
            intercept=float(d["intercept"]),
            pdo=float(d["pdo"]),
            odds=float(d["odds"]),
            base_score=float(d["base_score"]),
            rounding=bool(d["rounding"]),
            missing_woe=d["missing_woe"],
            unseen_level=d["unseen_level"],
            meta=d.get("meta", {}),
        )


def scale_points(
    binning: FeatureBinning,
    coefficient: float,
    intercept: float,
    n_features: int,
    *,
    pdo: float,
    odds: float,
    base_score: float,
    rounding: bool,
    missing_woe: str,
    unseen_level: str,
) -> tuple[tuple[float, ...], float]:
    """Points per bin (table order) and the points of an unseen level, for one feature."""
    factor = pdo / math.log(2)
    offset = base_score - factor * math.log(odds)
    woe = binning.woe_by_bin(missing_woe)
    points = -(woe * coefficient + intercept / n_features) * factor + offset / n_features
    neutral = -(0.0 * coefficient + intercept / n_features) * factor + offset / n_features
    if rounding:
        points = np.rint(points)
        neutral = float(np.rint(neutral))
    seen = np.array([b.count > 0 for b in binning.bins])
    if unseen_level == "missing":
        unseen = float(points[-1])
    elif unseen_level == "worst":
        unseen = float(points[seen].min() if seen.any() else points.min())
    else:
        unseen = float(neutral)
    return tuple(float(p) for p in points), unseen
