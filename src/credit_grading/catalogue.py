"""The public credit information catalogue (公共信用信息目录).

The catalogue describes every item a registry may carry: its source department, type,
unit, valid range or levels, what a missing value means, the direction in which it moves
credit risk, its disclosure level and whether it is personal data. The registry contract,
the synthetic registry, monotone binning, monotone GBM constraints, reason codes and the
publication path all read it.

A catalogue is plain data (a pydantic model) loaded from YAML::

    >>> from credit_grading.catalogue import load_catalogue
    >>> cat = load_catalogue()
    >>> cat.item("tax_credit_rating").level_codes
    ('A', 'B', 'M', 'C', 'D')
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from credit_grading._resources import builtin_config
from credit_grading._yaml import load_model
from credit_grading.exceptions import CatalogueError

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ItemType(StrEnum):
    """Kind of value an item holds."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    FLAG = "flag"
    DATE = "date"
    TEXT = "text"


class Direction(StrEnum):
    """How credit risk moves as the item's value grows."""

    INCREASING = "increasing"
    DECREASING = "decreasing"
    NONE = "none"


class Disclosure(StrEnum):
    """Who may see an item (public < government-shared < internal)."""

    PUBLIC = "public"
    GOVERNMENT_SHARED = "government_shared"
    INTERNAL = "internal"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(_Frozen):
    """A source department of the catalogue."""

    id: str
    name_zh: str = ""
    name_en: str = ""


class Level(_Frozen):
    """One level of a categorical item."""

    code: str
    name_zh: str = ""
    name_en: str = ""

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_text(cls, v: object) -> object:
        # YAML reads 1 or true as numbers/booleans; level codes are always text.
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


class Missing(_Frozen):
    """What a missing value means and whether it is allowed."""

    allowed: bool = True
    meaning_zh: str = ""
    meaning_en: str = ""


class CatalogueItem(_Frozen):
    """One item of the catalogue: a registry column and everything known about it.

    Only ``id`` and ``type`` are required, so a config can describe any tabular dataset;
    the shipped catalogue fills in every field (a test checks it).
    """

    id: str
    type: ItemType
    name_zh: str = ""
    name_en: str = ""
    source: str | None = None
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    special_codes: tuple[float, ...] = ()
    levels: tuple[Level, ...] | None = None
    missing: Missing = Field(default_factory=Missing)
    direction: Direction = Direction.NONE
    disclosure: Disclosure = Disclosure.INTERNAL
    personal_data: bool = False
    required: bool = True
    feature: bool | None = None
    derived_from: str | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("an item id must be letters, digits and underscores, not starting with a digit")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CatalogueItem:
        t = self.type
        if t is ItemType.CATEGORICAL:
            if not self.levels:
                raise ValueError(f"categorical item {self.id!r} needs a non-empty 'levels' list")
            codes = [lv.code for lv in self.levels]
            dup = sorted({c for c in codes if codes.count(c) > 1})
            if dup:
                raise ValueError(f"item {self.id!r} repeats level code(s) {dup}")
        elif self.levels is not None:
            raise ValueError(f"only categorical items have levels; {self.id!r} is {t.value}")
        if self.special_codes and t is not ItemType.NUMERIC:
            raise ValueError(f"special codes apply to numeric items only; {self.id!r} is {t.value}")
        if t is not ItemType.NUMERIC and (self.min is not None or self.max is not None or self.integer):
            raise ValueError(f"min, max and integer apply to numeric items only; {self.id!r} is {t.value}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"item {self.id!r} has min {self.min} greater than max {self.max}")
        if self.direction is not Direction.NONE and t not in (ItemType.NUMERIC, ItemType.FLAG):
            raise ValueError(
                f"a risk direction applies to numeric and flag items; {self.id!r} is {t.value} (use direction: none)"
            )
        if self.feature and t in (ItemType.DATE, ItemType.TEXT):
            raise ValueError(f"{t.value} item {self.id!r} cannot be a model feature")
        if self.derived_from is not None and t is not ItemType.NUMERIC:
            raise ValueError(f"only numeric items can be derived; {self.id!r} is {t.value}")
        return self

    @property
    def is_feature(self) -> bool:
        """Whether models use this item (default: numeric, categorical and flag items)."""
        if self.feature is not None:
            return self.feature
        return self.type in (ItemType.NUMERIC, ItemType.CATEGORICAL, ItemType.FLAG)

    @property
    def level_codes(self) -> tuple[str, ...]:
        """Level codes of a categorical item in catalogue order (empty otherwise)."""
        return tuple(lv.code for lv in self.levels or ())

    @property
    def label(self) -> str:
        """``name_zh (name_en)`` when both exist, else whichever exists, else the id."""
        if self.name_zh and self.name_en:
            return f"{self.name_zh} ({self.name_en})"
        return self.name_zh or self.name_en or self.id


class Catalogue(_Frozen):
    """The whole catalogue: departments and items, looked up by id."""

    version: str = "1"
    name_zh: str = ""
    name_en: str = ""
    departments: tuple[Department, ...] = ()
    items: tuple[CatalogueItem, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalogue:
        ids = [it.id for it in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"item id(s) {dup} appear more than once")
        if self.departments:
            known = {d.id for d in self.departments}
            for it in self.items:
                if it.source is not None and it.source not in known:
                    raise ValueError(
                        f"item {it.id!r} names source {it.source!r}, which is not a department; known: {sorted(known)}"
                    )
        by_id = {it.id: it for it in self.items}
        for it in self.items:
            if it.derived_from is not None:
                base = by_id.get(it.derived_from)
                if base is None or base.type is not ItemType.DATE:
                    raise ValueError(
                        f"item {it.id!r} is derived from {it.derived_from!r}, which must be a date item "
                        "of this catalogue"
                    )
        return self

    @cached_property
    def _by_id(self) -> dict[str, CatalogueItem]:
        return {it.id: it for it in self.items}

    def item(self, item_id: str) -> CatalogueItem:
        """The item called ``item_id``; a clear error names the known ids otherwise."""
        try:
            return self._by_id[item_id]
        except KeyError:
            raise CatalogueError(f"unknown catalogue item {item_id!r}; known items: {', '.join(self._by_id)}") from None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    @property
    def features(self) -> tuple[CatalogueItem, ...]:
        """Items used by models, in catalogue order."""
        return tuple(it for it in self.items if it.is_feature)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(it.id for it in self.features)

    def department(self, dep_id: str) -> Department | None:
        return next((d for d in self.departments if d.id == dep_id), None)

    def subset(self, item_ids: list[str] | tuple[str, ...]) -> Catalogue:
        """A catalogue with only the named items (and the dates they derive from)."""
        keep = set(item_ids)
        for i in item_ids:
            base = self.item(i).derived_from
            if base:
                keep.add(base)
        return Catalogue(
            version=self.version,
            name_zh=self.name_zh,
            name_en=self.name_en,
            departments=self.departments,
            items=tuple(it for it in self.items if it.id in keep),
        )


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load a catalogue from YAML; ``None`` loads the built-in ``configs/catalogue.yaml``."""
    return load_model(Catalogue, builtin_config("catalogue.yaml") if path is None else path)
