"""A complete grading model as plain data: scorecard, GBM, calibrations, champion, grade scale, rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from credit_grading.config.grading import OverrideRule
from credit_grading.exceptions import BundleError
from credit_grading.specs.calibration import CalibrationSpec
from credit_grading.specs.gbm import GbmSpec
from credit_grading.specs.grading import GradeScaleSpec
from credit_grading.specs.scorecard import ScorecardSpec


@dataclass(frozen=True)
class ModelSpec:
    scorecard: ScorecardSpec | None
    gbm: GbmSpec | None
    calibration: dict[str, CalibrationSpec]  # keyed "scorecard" / "gbm"
    champion: str = "gbm"
    name: str = "credit_grading"
    meta: dict = field(default_factory=dict)
    scale: GradeScaleSpec | None = None  # the master scale (grades, tiers, PD cut-offs)
    overrides: tuple[OverrideRule, ...] = ()  # hard rules applied after the model
    hysteresis_margin: float = 0.0

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "0"))

    @property
    def decider(self) -> ScorecardSpec | GbmSpec:
        """The spec of the model that decides: the GBM when it is the champion, else the scorecard."""
        return self.gbm if self.champion == "gbm" else self.scorecard

    def __post_init__(self) -> None:
        present = {"scorecard": self.scorecard, "gbm": self.gbm}
        if present.get(self.champion) is None:
            raise BundleError(f"the champion model {self.champion!r} is not in this model")
        for key in self.calibration:
            if present.get(key) is None:
                raise BundleError(f"a calibration is given for {key!r}, which this model does not have")
        if self.champion not in self.calibration:
            raise BundleError(f"the champion {self.champion!r} has no calibration to a PD")
