"""The registry data contract: which columns a registry table has and of which kind.

A :class:`RegistrySchema` is built from a :class:`~credit_grading.config.Config` (or a
catalogue plus the key column names) and is what reading and validation work from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from credit_grading.catalogue import Catalogue, CatalogueItem, ItemType
from credit_grading.config import Config, DuplicatePolicy, IdFormat

DICT_STRING = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class RegistrySchema:
    """Columns of a registry table: the keys, the target and the catalogue items."""

    catalogue: Catalogue
    id_column: str = "uscc"
    id_format: IdFormat = IdFormat.USCC
    as_of_column: str | None = "as_of"
    target_column: str | None = "bad_12m"
    duplicates: DuplicatePolicy = DuplicatePolicy.KEEP_FIRST
    extra_required: tuple[str, ...] = field(default=())

    @classmethod
    def from_config(cls, config: Config) -> RegistrySchema:
        ds = config.dataset
        return cls(
            catalogue=config.load_catalogue(),
            id_column=ds.id_column,
            id_format=ds.id_format,
            as_of_column=ds.as_of_column,
            target_column=ds.target_column,
            duplicates=ds.duplicates,
        )

    @property
    def input_items(self) -> tuple[CatalogueItem, ...]:
        """Items read from the file (derived items are computed, not read)."""
        return tuple(it for it in self.catalogue.items if it.derived_from is None)

    @property
    def derived_items(self) -> tuple[CatalogueItem, ...]:
        return tuple(it for it in self.catalogue.items if it.derived_from is not None)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.id_column, self.as_of_column) if c is not None)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns whose absence makes the table unusable."""
        items = tuple(it.id for it in self.input_items if it.required)
        return self.key_columns + items

    @property
    def known_columns(self) -> tuple[str, ...]:
        """Every column the contract knows (keys, target, input items)."""
        target = (self.target_column,) if self.target_column else ()
        return self.key_columns + target + tuple(it.id for it in self.input_items)

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Columns of a validated table, in order: keys, target, items (derived included)."""
        target = (self.target_column,) if self.target_column else ()
        return self.key_columns + target + tuple(it.id for it in self.catalogue.items)

    def csv_read_type(self, column: str) -> pa.DataType:
        """The Arrow type asked of the CSV reader for a known column (fast path)."""
        if column == self.id_column:
            return pa.string()
        if column == self.as_of_column:
            return pa.date32()
        if column == self.target_column:
            return pa.float64()
        item = self.catalogue.item(column)
        return {
            ItemType.NUMERIC: pa.float64(),
            ItemType.FLAG: pa.float64(),
            ItemType.CATEGORICAL: DICT_STRING,
            ItemType.DATE: pa.date32(),
            ItemType.TEXT: pa.string(),
        }[item.type]
