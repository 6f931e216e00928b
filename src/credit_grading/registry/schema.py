"""The registry data contract: which columns a registry table has and of which kind.

A :class:`RegistrySchema` is built from a :class:`~credit_grading.config.Config` (or a
catalogue plus the key column names) and is what reading and validation work from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from credit_grading.catalogue import Catalogue, CatalogueItem, ItemType
from credit_grading.config import ROW_ID, Config, DatasetConfig, DuplicatePolicy, IdFormat
from credit_grading.registry.text import is_text_type

DICT_STRING = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class RegistrySchema:
    """Columns of a registry table: the keys, the target and the catalogue items.

    Without an ``id_column`` rows are numbered: the id is the 1-based row number in the file,
    in a column named ``row_id`` that validation adds (``numbered`` is then true).
    """

    # Built directly without roles, a schema has the built-in scenario's (tests rely on it);
    # from a config (from_config, from_dataset) it has the configured ones.
    catalogue: Catalogue
    id_column: str | None = "uscc"
    id_format: IdFormat = IdFormat.USCC
    as_of_column: str | None = "as_of"
    target_column: str | None = "bad_12m"
    duplicates: DuplicatePolicy = DuplicatePolicy.KEEP_FIRST
    extra_required: tuple[str, ...] = field(default=())
    bad_values: tuple[str | float, ...] | None = None
    good_values: tuple[str | float, ...] | None = None
    weight_column: str | None = None
    numbered: bool = False

    def __post_init__(self) -> None:
        if self.id_column is None:
            object.__setattr__(self, "id_column", ROW_ID)
            object.__setattr__(self, "numbered", True)
        object.__setattr__(self, "id_format", IdFormat(self.id_format))

    @classmethod
    def from_config(cls, config: Config) -> RegistrySchema:
        return cls.from_dataset(config.dataset, config.load_catalogue())

    @classmethod
    def from_dataset(cls, dataset: DatasetConfig, catalogue: Catalogue) -> RegistrySchema:
        """The contract of a ``dataset`` section (its column roles) over ``catalogue``."""
        return cls(
            catalogue=catalogue,
            id_column=dataset.id_column,
            id_format=dataset.id_format,
            as_of_column=dataset.as_of_column,
            target_column=dataset.target_column,
            duplicates=dataset.duplicates,
            bad_values=dataset.bad_values,
            good_values=dataset.good_values,
            weight_column=dataset.weight_column,
        )

    @property
    def id_label(self) -> str:
        """How reports head the id: ``USCC`` for unified social credit codes, else the column."""
        return "USCC" if self.id_format == IdFormat.USCC else self.id_column

    @property
    def target_is_text(self) -> bool:
        """Whether the target is mapped from text values (``bad_values``/``good_values`` with text)."""
        values = (self.bad_values or ()) + (self.good_values or ())
        return any(isinstance(v, str) for v in values)

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
        keys = tuple(c for c in self.key_columns if not (self.numbered and c == self.id_column))
        weight = (self.weight_column,) if self.weight_column else ()
        return keys + weight + items

    @property
    def known_columns(self) -> tuple[str, ...]:
        """Every column the contract knows (keys, target, weight, input items)."""
        return self.key_columns + self._roles + tuple(it.id for it in self.input_items)

    @property
    def output_columns(self) -> tuple[str, ...]:
        """Columns of a validated table, in order: keys, target, weight, items (derived included)."""
        return self.key_columns + self._roles + tuple(it.id for it in self.catalogue.items)

    @property
    def _roles(self) -> tuple[str, ...]:
        return tuple(c for c in (self.target_column, self.weight_column) if c)

    def kind_problems(self, fields: pa.Schema) -> list[str]:
        """One sentence per known column whose Arrow type cannot hold its kind of value (a
        date in a numeric item, integers for a USCC). Decided from the types alone — a file's
        schema, once per file — never from the values of a chunk."""
        problems = []
        for f in fields:
            if f.name not in self.known_columns:
                continue
            kind = self.column_kind(f.name)
            t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
            if pa.types.is_null(t) or is_text_type(t) or _ACCEPTS[kind](t):
                continue
            if kind == _CODE:
                problems.append(
                    f"column {f.name!r} should hold 18-character codes as text but is of type {f.type}: a unified "
                    "social credit code has letters and a fixed width that numbers cannot keep; write the column "
                    "as text (string)"
                )
            else:
                problems.append(f"column {f.name!r} should hold {_KIND_WORDS[kind]} but is of type {f.type}")
        return problems

    def column_kind(self, column: str) -> str:
        """``code`` (a USCC id), ``id``, ``date``, ``number``, ``category`` or ``text``."""
        if column == self.id_column:
            return _CODE if self.id_format == IdFormat.USCC else "id"
        if column == self.as_of_column:
            return "date"
        if column == self.target_column:
            return "text" if self.target_is_text else "number"
        if column == self.weight_column:
            return "number"
        return {
            ItemType.NUMERIC: "number",
            ItemType.FLAG: "number",
            ItemType.CATEGORICAL: "category",
            ItemType.DATE: "date",
            ItemType.TEXT: "text",
        }[self.catalogue.item(column).type]

    def csv_read_type(self, column: str) -> pa.DataType:
        """The Arrow type asked of the CSV reader for a known column (fast path)."""
        if column == self.id_column:
            return pa.string()
        if column == self.as_of_column:
            return pa.date32()
        if column == self.target_column:
            return pa.string() if self.target_is_text else pa.float64()
        if column == self.weight_column:
            return pa.float64()
        item = self.catalogue.item(column)
        return {
            ItemType.NUMERIC: pa.float64(),
            ItemType.FLAG: pa.float64(),
            ItemType.CATEGORICAL: DICT_STRING,
            ItemType.DATE: pa.date32(),
            ItemType.TEXT: pa.string(),
        }[item.type]


def _numbers(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


def _dates(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


# Besides text and all-null columns, which Arrow types each kind of column accepts.
_CODE = "code"  # the kind of a column of unified social credit codes
_ACCEPTS = {_CODE: lambda t: False, "id": pa.types.is_integer, "date": _dates, "number": _numbers,
            "category": pa.types.is_integer, "text": lambda t: _numbers(t) or _dates(t)}  # fmt: skip
_KIND_WORDS = {"id": "entity keys (text or whole numbers)", "date": "dates", "number": "numbers",
               "category": "category codes", "text": "text"}  # fmt: skip
