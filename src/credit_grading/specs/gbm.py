"""The fitted gradient-boosted model as plain data: LightGBM's own text format plus the
feature encoding (column order, categorical level codes, monotone constraints)."""

from __future__ import annotations

from dataclasses import dataclass, field

from credit_grading.specs._io import JsonSpec, check_format

FORMAT = "credit_grading.gbm"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class GbmFeature:
    """One model input. A categorical feature's level ``levels[i]`` is encoded as ``i``;
    a missing value, and a level never seen in training, as NaN (LightGBM's missing)."""

    name: str
    kind: str  # "numerical" | "categorical"
    levels: tuple[str, ...] = ()
    monotone: int = 0  # +1 risk rises with the value, -1 falls, 0 free
    name_zh: str = ""
    name_en: str = ""


@dataclass(frozen=True)
class GbmSpec(JsonSpec):
    features: tuple[GbmFeature, ...]
    model_text: str
    best_iteration: int
    params: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "best_iteration": self.best_iteration,
            "params": self.params,
            "meta": self.meta,
            "features": [
                {
                    "name": f.name,
                    "kind": f.kind,
                    "levels": list(f.levels),
                    "monotone": f.monotone,
                    "name_zh": f.name_zh,
                    "name_en": f.name_en,
                }
                for f in self.features
            ],
            "model_text": self.model_text,
        }

    @classmethod
    def from_dict(cls, d: dict) -> GbmSpec:
        check_format(d, FORMAT, FORMAT_VERSION)
        return cls(
            features=tuple(
                GbmFeature(
                    f["name"],
                    f["kind"],
                    tuple(f.get("levels", ())),
                    int(f.get("monotone", 0)),
                    f.get("name_zh", ""),
                    f.get("name_en", ""),
                )
                for f in d["features"]
            ),
            model_text=d["model_text"],
            best_iteration=int(d["best_iteration"]),
            params=d.get("params", {}),
            meta=d.get("meta", {}),
        )
