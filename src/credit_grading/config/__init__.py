"""Configuration: pydantic models loaded from YAML files in ``configs/``.

``configs/default.yaml`` describes the default scenario, a Beijing-like enterprise
registry. A config can describe any tabular credit dataset: its id column, as-of column,
target column and features, either through a catalogue file or inline under
``dataset.features``. Later parts of the toolkit add their own sections.

A bad config fails with one :class:`~credit_grading.exceptions.ConfigError` naming the
file, each key path, the value given and what is allowed.

    >>> from credit_grading.config import load_config
    >>> cfg = load_config()
    >>> cfg.dataset.target_column is not None
    True
"""

from __future__ import annotations

import datetime as dt
import itertools
from enum import StrEnum
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from credit_grading._resources import builtin_config
from credit_grading._yaml import load_model, read_yaml, validate_model
from credit_grading.catalogue import Catalogue, CatalogueItem, load_catalogue
from credit_grading.config.grading import GradingConfig
from credit_grading.config.segments import SegmentsConfig
from credit_grading.exceptions import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdFormat(StrEnum):
    """How the entity key is checked: as a USCC (GB 32100-2015) or as any non-empty text."""

    USCC = "uscc"  # the id format's name, not a column name
    ANY = "any"


class DuplicatePolicy(StrEnum):
    """What to do with repeated ids: keep the first and reject the rest, or reject all."""

    KEEP_FIRST = "keep_first"
    REJECT_ALL = "reject_all"


# The id column made up when a dataset has none: the 1-based number of the row in its file.
ROW_ID = "row_id"


class DatasetConfig(_Section):
    """The shape of the input table.

    Exactly one of ``catalogue`` (a path, relative to the config file, or ``builtin``) and
    ``features`` (inline catalogue items) describes the columns. ``include`` optionally
    narrows the catalogue to the named items.

    Column roles: ``id_column`` (optional: without it rows are numbered and the number, in a
    column named ``row_id``, is the id; ``id_format: uscc`` checks ids per GB 32100-2015),
    ``as_of_column`` (optional snapshot date), ``target_column`` (0/1, or mapped to 1 = bad by
    ``bad_values`` or to 0 = good by ``good_values``: strings or numbers; given both, any other
    value is rejected), ``weight_column`` (optional non-negative sample weight, carried and used
    by both models' fitting).
    """

    name: str = "registry"
    id_column: str | None = None
    id_format: IdFormat = IdFormat.ANY
    as_of_column: str | None = None
    target_column: str | None = None
    bad_values: tuple[str | float, ...] | None = None
    good_values: tuple[str | float, ...] | None = None
    weight_column: str | None = None
    catalogue: str | None = None
    features: tuple[CatalogueItem, ...] | None = None
    include: tuple[str, ...] | None = None
    duplicates: DuplicatePolicy = DuplicatePolicy.KEEP_FIRST

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if (self.catalogue is None) == (self.features is None):
            raise ValueError("give exactly one of 'catalogue' (a file) or 'features' (inline items)")
        if self.features is not None:
            Catalogue(items=self.features)  # same consistency checks as a catalogue file
        roles = [c for c in (self.id_name, self.as_of_column, self.target_column, self.weight_column) if c is not None]
        if len(set(roles)) != len(roles):
            raise ValueError("id_column, as_of_column, target_column and weight_column must be different columns")
        if self.id_column is None and self.id_format == IdFormat.USCC:
            raise ValueError("id_format: uscc needs an id_column holding the codes")
        for key in ("bad_values", "good_values"):
            values = getattr(self, key)
            if values is not None and (not values or self.target_column is None):
                raise ValueError(f"{key} needs a target_column and at least one value")
        if self.bad_values and self.good_values and set(map(str, self.bad_values)) & set(map(str, self.good_values)):
            raise ValueError("a value cannot be in both bad_values and good_values")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        # Optional roles left unset are left out, so a config that does not use them dumps
        # (and a bundle's manifest reads) as it did before they existed.
        out = handler(self)
        for key in ("bad_values", "good_values", "weight_column"):
            if out.get(key) is None:
                out.pop(key, None)
        return out

    @property
    def id_name(self) -> str:
        """The id column of validated tables and results: ``id_column``, else ``row_id``."""
        return self.id_column or ROW_ID

    @property
    def id_label(self) -> str:
        """How reports head the id: ``USCC`` for unified social credit codes, else the column."""
        return "USCC" if self.id_format == IdFormat.USCC else self.id_name


class SynthConfig(_Section):
    """Defaults of the synthetic registry (``credit-grading synth``)."""

    rows: int = Field(default=100_000, ge=1, le=200_000_000)
    seed: int = Field(default=0, ge=0)
    as_of: dt.date = dt.date(2025, 12, 31)
    bad_rate: float = Field(default=0.07, gt=0.0, lt=0.5)
    invalid_fraction: float = Field(default=0.0, ge=0.0, le=0.5)
    drift: float = Field(default=0.0, ge=0.0, le=3.0)
    # The sector-specific risk drivers of credit_grading.synth.risk (off: the default registry).
    sector_drivers: bool = False


class UnseenLevel(StrEnum):
    """How a categorical level never seen in training is scored.

    ``neutral``: the points of a zero weight of evidence (the training average, no
    evidence either way); ``missing``: the points of the feature's missing bin (what
    optbinning does); ``worst``: the feature's lowest points.
    """

    NEUTRAL = "neutral"
    MISSING = "missing"
    WORST = "worst"


class FeatureBinningConfig(_Section):
    """Per-feature overrides of the binning settings."""

    monotonic_trend: str | None = None
    min_bin_size: float | None = Field(default=None, gt=0.0, lt=0.5)
    max_n_bins: int | None = Field(default=None, ge=2)
    special_codes: tuple[float, ...] | None = None
    cat_cutoff: float | None = Field(default=None, gt=0.0, lt=0.5)
    # The analyst's own bins: cut points of a numeric feature (``[lower, upper)`` bins between
    # them) or level groups of a categorical one (levels not listed form bins of their own).
    # Set, they replace the optimiser's choice for that feature.
    splits: tuple[float, ...] | None = None
    groups: tuple[tuple[str, ...], ...] | None = None

    @field_validator("splits")
    @classmethod
    def _splits(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("splits lists at least one cut point")
        if any(x != x or x in (float("inf"), float("-inf")) for x in v):
            raise ValueError(f"splits must be finite numbers, got {list(v)}")
        if any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(f"splits must be strictly increasing, got {list(v)}")
        return v

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: tuple[tuple[str, ...], ...] | None) -> tuple[tuple[str, ...], ...] | None:
        if v is None:
            return v
        if not v or any(not g for g in v):
            raise ValueError("groups lists one or more non-empty groups of levels")
        seen: set[str] = set()
        for g in v:
            for level in g:
                if level in seen:
                    raise ValueError(f"level {level!r} appears in more than one group")
                seen.add(level)
        return v

    @field_validator("monotonic_trend")
    @classmethod
    def _trend(cls, v: str | None) -> str | None:
        allowed = ("auto", "auto_heuristic", "auto_asc_desc", "ascending", "descending", "peak", "valley", "none")
        if v is not None and v not in allowed:
            raise ValueError(f"monotonic_trend must be one of {', '.join(allowed)}")
        return v


class BinningConfig(_Section):
    """Optimal binning (optbinning) of every feature.

    Each numeric feature's monotonic trend follows its catalogue risk direction
    (increasing → ascending event rate, decreasing → descending, none → ``auto``) unless
    ``features.<name>.monotonic_trend`` overrides it.
    """

    min_bin_size: float = Field(default=0.05, gt=0.0, lt=0.5)
    flag_min_bin_size: float = Field(default=0.002, gt=0.0, lt=0.5)
    max_n_bins: int = Field(default=8, ge=2, le=50)
    max_n_prebins: int = Field(default=20, ge=2, le=200)
    cat_cutoff: float | None = Field(default=0.01, gt=0.0, lt=0.5)
    missing_woe: str = Field(default="empirical", pattern="^(empirical|zero)$")
    unseen_level: UnseenLevel = UnseenLevel.NEUTRAL
    solver: str = Field(default="cp", pattern="^(cp|mip)$")
    features: dict[str, FeatureBinningConfig] = Field(default_factory=dict)


class StepwiseMethod(StrEnum):
    NONE = "none"
    FORWARD = "forward"
    BACKWARD = "backward"


class SelectionConfig(_Section):
    """Feature selection after binning; everything dropped is listed with its reason."""

    min_iv: float = Field(default=0.02, ge=0.0)
    max_iv: float | None = Field(default=None, gt=0.0)
    max_correlation: float = Field(default=0.7, gt=0.0, le=1.0)
    max_vif: float = Field(default=5.0, gt=1.0)
    stepwise: StepwiseMethod = StepwiseMethod.NONE
    stepwise_criterion: str = Field(default="aic", pattern="^(aic|auc)$")
    max_features: int | None = Field(default=None, ge=1)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class ScorecardConfig(_Section):
    """Logistic regression on WoE, scaled to points."""

    pdo: float = Field(default=20.0, gt=0.0)
    odds: float = Field(default=50.0, gt=0.0)
    base_score: float = Field(default=600.0)
    rounding: bool = False
    wrong_sign: str = Field(default="drop", pattern="^(drop|flag)$")
    C: float = Field(default=1.0, gt=0.0)
    max_iter: int = Field(default=1000, ge=10)
    reasons: int = Field(default=3, ge=0, le=20)
    validation_fraction: float = Field(default=0.25, gt=0.0, lt=0.9)
    seed: int = 0


class SplitMethod(StrEnum):
    """How rows are split into train, validation and test.

    ``time``: out of time — the latest snapshot (``as_of``) is the test set, the one before it
    the validation set when there are three or more, otherwise a stratified share of the
    earlier rows; ``stratified``: random shares stratified by the target; ``auto``: ``time``
    when the data holds two or more snapshots, else ``stratified``.
    """

    AUTO = "auto"
    TIME = "time"
    STRATIFIED = "stratified"


class SplitConfig(_Section):
    method: SplitMethod = SplitMethod.AUTO
    valid_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    seed: int = 0


class GbmConfig(_Section):
    """The LightGBM challenger. Monotone constraints follow the catalogue's risk directions
    for numeric and flag features; categorical features are native LightGBM categoricals.

    ``num_leaves``, ``learning_rate``, ``early_stopping_rounds`` and ``min_data_in_leaf`` left
    unset (null) are chosen from the number of training rows (see
    :func:`credit_grading.gbm.size_defaults`); the values used and the reason are written into
    the bundle's ``gbm.json`` (``params`` and ``meta.defaults``). A value set here is used as is.
    """

    # Shallow trees by default: each tree then has few cells, so exact TreeSHAP is a table
    # lookup (see credit_grading.engine.fast_gbm), at no loss of quality on our registry
    # (measured in the closing note of the explanations work: depth 2 and depth 5 reach the
    # same out-of-time Gini).
    num_leaves: int | None = Field(default=None, ge=2, le=4096)
    max_depth: int = Field(default=2, ge=-1, le=64)
    learning_rate: float | None = Field(default=None, gt=0.0, le=1.0)
    n_estimators: int = Field(default=2000, ge=1, le=100_000)
    early_stopping_rounds: int | None = Field(default=None, ge=0)  # 0: no early stopping, all n_estimators
    min_data_in_leaf: int | None = Field(default=None, ge=1)
    feature_fraction: float = Field(default=0.9, gt=0.0, le=1.0)
    bagging_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=1.0, ge=0.0)
    monotone: bool = True
    # "advanced" was seen to break the constraint on our data (a known LightGBM problem);
    # "intermediate" keeps it and loses nothing measurable here. The monotonicity test checks it.
    monotone_method: str = Field(default="intermediate", pattern="^(basic|intermediate|advanced)$")
    num_threads: int = Field(default=0, ge=0)
    seed: int = 0
    extra_params: dict[str, object] = Field(default_factory=dict)


class CalibrationMethod(StrEnum):
    PLATT = "platt"
    ISOTONIC = "isotonic"


class CalibrationConfig(_Section):
    """Calibration of each model's output to a 12-month PD, on held-out rows only."""

    method: CalibrationMethod = CalibrationMethod.PLATT
    min_pd: float = Field(default=1e-5, gt=0.0, lt=0.01)


class ChampionModel(StrEnum):
    """Which model decides: ``auto`` picks the one with the better validation AUC (the
    cross-validated mean when cross-validation ran; a tie goes to the scorecard, the simpler
    model); ``scorecard`` or ``gbm`` fix it."""

    AUTO = "auto"
    SCORECARD = "scorecard"
    GBM = "gbm"


class ModelConfig(_Section):
    """Which model decides (the champion); the other runs beside it as challenger.

    ``name`` names the model (bundle, MLflow experiment and registered model); left unset it
    is ``dataset.name``.
    """

    champion: ChampionModel = ChampionModel.AUTO
    name: str | None = Field(default=None, min_length=1)


class CvMode(StrEnum):
    """``auto``: cross-validate when the labelled rows are fewer than ``max_rows``; ``on``/``off``."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


class CvConfig(_Section):
    """Repeated stratified k-fold cross-validation of both models (the whole fit: binning,
    selection, scorecard, GBM) on the development rows (train + validation; the test rows
    stay untouched). Seeded by ``seed``."""

    mode: CvMode = CvMode.AUTO
    folds: int = Field(default=5, ge=2, le=20)
    repeats: int = Field(default=3, ge=1, le=20)
    max_rows: int = Field(default=5_000, ge=0)
    seed: int = 0


class EvaluationConfig(_Section):
    """How the models are evaluated: cross-validation on small data, and the interval of every
    single-split figure (AUC and Gini by DeLong's method, KS by a seeded bootstrap)."""

    cv: CvConfig = Field(default_factory=CvConfig)
    bootstrap: int = Field(default=200, ge=0, le=10_000)
    level: float = Field(default=0.95, gt=0.5, lt=1.0)


class SecurityConfig(_Section):
    """Which model bundles this installation trusts.

    ``trusted_keys`` lists public-key files (relative to the config file) or 64-hex sha256
    fingerprints; when it is not empty, a bundle loads only if it is signed by one of them
    (``credit-grading models sign``). The keys of ``$CREDIT_GRADING_TRUSTED_KEYS`` are trusted too.
    """

    trusted_keys: tuple[str, ...] = ()

    @field_validator("trusted_keys")
    @classmethod
    def _non_empty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not k.strip() for k in v):
            raise ValueError("a trusted key is a public-key file or a fingerprint, not an empty string")
        return v


class Config(_Section):
    """The whole configuration."""

    dataset: DatasetConfig
    synth: SynthConfig = Field(default_factory=SynthConfig)
    binning: BinningConfig = Field(default_factory=BinningConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    scorecard: ScorecardConfig = Field(default_factory=ScorecardConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    gbm: GbmConfig = Field(default_factory=GbmConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    grading: GradingConfig = Field(default_factory=GradingConfig)
    # Sector models: one scorecard and GBM per segment of a column, the pooled ones as fallback.
    segments: SegmentsConfig | None = None
    # The machine's trust, not part of a model: left out of model_dump, so of bundle manifests.
    security: SecurityConfig = Field(default_factory=SecurityConfig, exclude=True)

    # Set by load_config: the folder relative paths are resolved against.
    base_dir: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _base_dir_from_context(cls, data: object, info: ValidationInfo) -> object:
        if isinstance(data, dict) and "base_dir" not in data and info.context:
            data = {**data, "base_dir": info.context.get("base_dir")}
        return data

    @property
    def model_name(self) -> str:
        """The model's name: ``model.name`` when set, else ``dataset.name``."""
        return self.model.name or self.dataset.name

    def load_catalogue(self) -> Catalogue:
        """The catalogue this config describes, narrowed by ``dataset.include``."""
        ds = self.dataset
        if ds.features is not None:
            cat = Catalogue(name_en=ds.name, items=ds.features)
        elif ds.catalogue == "builtin":
            cat = load_catalogue()
        else:
            path = Path(ds.catalogue)
            if not path.is_absolute() and self.base_dir is not None:
                path = self.base_dir / path
            cat = load_catalogue(path)
        if ds.include:
            unknown = [i for i in ds.include if i not in cat]
            if unknown:
                raise ConfigError(f"dataset.include names item(s) {unknown} that the catalogue does not have")
            cat = cat.subset(ds.include)
        reserved = {ds.id_name, ds.as_of_column, ds.target_column, ds.weight_column} - {None}
        clash = sorted(reserved & {it.id for it in cat.items})
        if clash:
            raise ConfigError(
                f"catalogue item(s) {clash} use a name reserved for the id, as-of, target or weight column"
            )
        return cat


def load_config(path: Path | str | None = None) -> Config:
    """Load a config from YAML; ``None`` loads the built-in ``configs/default.yaml``."""
    path = builtin_config("default.yaml") if path is None else Path(path)
    return load_model(Config, path, context={"base_dir": path.resolve().parent})


def with_catalogue(config: Config, path: Path | str) -> Config:
    """``config`` reading its columns from the catalogue file ``path`` (instead of its own
    ``dataset.catalogue`` or inline ``features``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"the catalogue file {path} does not exist")
    data = config.model_dump(mode="json", exclude={"base_dir"})
    data["dataset"] = {**data["dataset"], "catalogue": str(path.resolve()), "features": None}
    data["security"] = config.security.model_dump(mode="json")
    return validate_model(Config, data, str(path), context={"base_dir": config.base_dir})


def config_from_dict(data: dict, base_dir: Path | None = None, source: str = "<dict>") -> Config:
    """Build a config from a mapping (as if read from YAML), with the same error messages."""
    return validate_model(Config, data, source, context={"base_dir": base_dir})


__all__ = [
    "ROW_ID",
    "BinningConfig",
    "Config",
    "CvConfig",
    "CvMode",
    "DatasetConfig",
    "DuplicatePolicy",
    "EvaluationConfig",
    "GradingConfig",
    "IdFormat",
    "ScorecardConfig",
    "SecurityConfig",
    "SelectionConfig",
    "SynthConfig",
    "UnseenLevel",
    "config_from_dict",
    "load_config",
    "read_yaml",
    "with_catalogue",
]
