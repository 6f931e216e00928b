"""Configuration: pydantic models loaded from YAML files in ``configs/``.

``configs/default.yaml`` describes the default scenario, a Beijing-like enterprise
registry. A config can describe any tabular credit dataset: its id column, as-of column,
target column and features, either through a catalogue file or inline under
``dataset.features``. Later parts of the toolkit add their own sections.

A bad config fails with one :class:`~credit_grading.exceptions.ConfigError` naming the
file, each key path, the value given and what is allowed.

    >>> from credit_grading.config import load_config
    >>> cfg = load_config()
    >>> cfg.dataset.id_column
    'uscc'
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from credit_grading._resources import builtin_config
from credit_grading._yaml import load_model, read_yaml, validate_model
from credit_grading.catalogue import Catalogue, CatalogueItem, load_catalogue
from credit_grading.exceptions import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdFormat(StrEnum):
    """How the entity key is checked: as a USCC (GB 32100-2015) or as any non-empty text."""

    USCC = "uscc"
    ANY = "any"


class DuplicatePolicy(StrEnum):
    """What to do with repeated ids: keep the first and reject the rest, or reject all."""

    KEEP_FIRST = "keep_first"
    REJECT_ALL = "reject_all"


class DatasetConfig(_Section):
    """The shape of the input table.

    Exactly one of ``catalogue`` (a path, relative to the config file, or ``builtin``) and
    ``features`` (inline catalogue items) describes the columns. ``include`` optionally
    narrows the catalogue to the named items.
    """

    name: str = "registry"
    id_column: str = "uscc"
    id_format: IdFormat = IdFormat.USCC
    as_of_column: str | None = "as_of"
    target_column: str | None = "bad_12m"
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
        reserved = {self.id_column, self.as_of_column, self.target_column} - {None}
        if len(reserved) != sum(c is not None for c in (self.id_column, self.as_of_column, self.target_column)):
            raise ValueError("id_column, as_of_column and target_column must be different columns")
        return self


class SynthConfig(_Section):
    """Defaults of the synthetic registry (``credit-grading synth``)."""

    rows: int = Field(default=100_000, ge=1, le=200_000_000)
    seed: int = Field(default=0, ge=0)
    as_of: dt.date = dt.date(2025, 12, 31)
    bad_rate: float = Field(default=0.07, gt=0.0, lt=0.5)
    invalid_fraction: float = Field(default=0.0, ge=0.0, le=0.5)
    drift: float = Field(default=0.0, ge=0.0, le=3.0)


class Config(_Section):
    """The whole configuration."""

    dataset: DatasetConfig
    synth: SynthConfig = Field(default_factory=SynthConfig)

    # Set by load_config: the folder relative paths are resolved against.
    base_dir: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _base_dir_from_context(cls, data: object, info: ValidationInfo) -> object:
        if isinstance(data, dict) and "base_dir" not in data and info.context:
            data = {**data, "base_dir": info.context.get("base_dir")}
        return data

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
        reserved = {ds.id_column, ds.as_of_column, ds.target_column} - {None}
        clash = sorted(reserved & {it.id for it in cat.items})
        if clash:
            raise ConfigError(f"catalogue item(s) {clash} use a name reserved for the id, as-of or target column")
        return cat


def load_config(path: Path | str | None = None) -> Config:
    """Load a config from YAML; ``None`` loads the built-in ``configs/default.yaml``."""
    path = builtin_config("default.yaml") if path is None else Path(path)
    return load_model(Config, path, context={"base_dir": path.resolve().parent})


def config_from_dict(data: dict, base_dir: Path | None = None, source: str = "<dict>") -> Config:
    """Build a config from a mapping (as if read from YAML), with the same error messages."""
    return validate_model(Config, data, source, context={"base_dir": base_dir})


__all__ = [
    "Config",
    "DatasetConfig",
    "DuplicatePolicy",
    "IdFormat",
    "SynthConfig",
    "config_from_dict",
    "load_config",
    "read_yaml",
]
