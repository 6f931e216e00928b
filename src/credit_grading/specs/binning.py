"""The fitted binning as plain data: edges or level groups, counts, event rates, WoE, IV.

A :class:`BinningSpec` round-trips through JSON exactly (floats are written as their
shortest round-trip representation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from credit_grading.exceptions import CreditGradingError
from credit_grading.specs._io import JsonSpec, check_format

# Slots of a feature with R regular bins: 0 .. R-1 regular, then these offsets after R.
MISSING, SPECIAL, UNSEEN = 0, 1, 2

FORMAT = "credit_grading.binning"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class BinStats:
    """One bin of a feature: ``kind`` is ``regular``, ``special`` or ``missing``."""

    kind: str
    label: str
    count: int
    count_event: int
    event_rate: float
    woe: float
    iv: float


@dataclass(frozen=True)
class FeatureBinning:
    """The binning of one feature (in optbinning's table order: regular, special, missing)."""

    name: str
    kind: str  # "numerical" | "categorical"
    bins: tuple[BinStats, ...]
    splits: tuple[float, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    special_codes: tuple[float, ...] = ()
    monotonic_trend: str | None = None
    status: str = ""
    user_set: bool = False  # the bins are the analyst's (binning.features.<id>.splits / groups)

    @property
    def n_regular(self) -> int:
        return sum(b.kind == "regular" for b in self.bins)

    @property
    def iv(self) -> float:
        return float(sum(b.iv for b in self.bins))

    def _bin(self, kind: str) -> BinStats:
        return next(b for b in self.bins if b.kind == kind)

    def slot_values(self, values_by_bin: np.ndarray, unseen: float) -> np.ndarray:
        """Per-slot lookup table (regular..., missing, special, unseen) from per-bin values
        given in table order (regular..., special, missing)."""
        r = self.n_regular
        out = np.empty(r + 3, dtype=np.float64)
        out[:r] = values_by_bin[:r]
        out[r + SPECIAL] = values_by_bin[r]
        out[r + MISSING] = values_by_bin[r + 1]
        out[r + UNSEEN] = unseen
        return out

    def woe_by_bin(self, missing_woe: str = "empirical") -> np.ndarray:
        """WoE per bin in table order; with ``missing_woe="zero"`` special and missing are 0."""
        woe = np.array([b.woe for b in self.bins], dtype=np.float64)
        if missing_woe == "zero":
            woe[self.n_regular :] = 0.0
        return woe

    @cached_property
    def level_slots(self) -> dict[str, int]:
        return {level: i for i, group in enumerate(self.groups) for level in group}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bins"] = [asdict(b) for b in self.bins]
        if not self.user_set:  # written only when set, so optimised binnings read as they always did
            del d["user_set"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureBinning:
        return cls(
            name=d["name"],
            kind=d["kind"],
            bins=tuple(BinStats(**b) for b in d["bins"]),
            splits=tuple(float(s) for s in d.get("splits", ())),
            groups=tuple(tuple(g) for g in d.get("groups", ())),
            special_codes=tuple(float(s) for s in d.get("special_codes", ())),
            monotonic_trend=d.get("monotonic_trend"),
            status=d.get("status", ""),
            user_set=bool(d.get("user_set", False)),
        )


@dataclass(frozen=True)
class BinningSpec(JsonSpec):
    """Binnings of all candidate features, and how special, missing and unseen are treated."""

    features: tuple[FeatureBinning, ...]
    missing_woe: str = "empirical"
    unseen_level: str = "neutral"
    meta: dict = field(default_factory=dict)

    @cached_property
    def by_name(self) -> dict[str, FeatureBinning]:
        return {f.name: f for f in self.features}

    def __getitem__(self, name: str) -> FeatureBinning:
        try:
            return self.by_name[name]
        except KeyError:
            raise CreditGradingError(f"no binning for feature {name!r}; binned: {', '.join(self.by_name)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def iv(self) -> dict[str, float]:
        return {f.name: f.iv for f in self.features}

    def subset(self, names: list[str] | tuple[str, ...]) -> BinningSpec:
        return BinningSpec(tuple(self[n] for n in names), self.missing_woe, self.unseen_level, dict(self.meta))

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "missing_woe": self.missing_woe,
            "unseen_level": self.unseen_level,
            "meta": self.meta,
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, d: dict) -> BinningSpec:
        check_format(d, FORMAT, FORMAT_VERSION)
        return cls(
            features=tuple(FeatureBinning.from_dict(f) for f in d["features"]),
            missing_woe=d["missing_woe"],
            unseen_level=d["unseen_level"],
            meta=d.get("meta", {}),
        )
