"""Validating a whole registry table against the data contract, vectorised over columns.

Every row that enters leaves either in :attr:`ValidationResult.data` (typed, ready for
models) or in :attr:`ValidationResult.rejects` with the column, the value as given (as text,
cut at 200 characters) and a reason code; ``rows_read == rows_valid + rows_rejected`` always.
Table-level problems (a missing required column, a column whose type cannot hold its kind of
value) are collected and raised once as a :class:`~credit_grading.exceptions.SchemaError`.

Column kinds are a property of a file, decided once from its types (the Parquet schema, the CSV
reader's explicit column types). In a chunk of a stream a value that is not a number or not a
date is a row reject, whatever the rest of the chunk holds; only a whole table in which a
column holds no number (or no date) at all is refused as a whole.

Text is read as given: a value that is not UTF-8 is rejected (``invalid_text``) with its bytes
shown as ``\\xNN`` escapes; the words a CSV reader takes for "no value" (``NA``, ``NULL``,
``N/A``, ``nan`` …, :data:`~credit_grading.registry.text.NULL_WORDS`) are missing values in
every column, and a reject shows them as the file wrote them.

The reason codes are listed in :data:`REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.catalogue import CatalogueItem, ItemType
from credit_grading.config import DuplicatePolicy
from credit_grading.exceptions import SchemaError
from credit_grading.registry.io import MALFORMED_COLUMNS, MALFORMED_DETAIL, MALFORMED_TEXT, check_columns
from credit_grading.registry.keys import NO_DATE, date_days, id_status, normal_ids
from credit_grading.registry.schema import RegistrySchema
from credit_grading.registry.text import NULL_WORDS, as_string, blank, cap, escape_invalid, invalid_utf8, is_text_type
from credit_grading.registry.uscc import REASON_CODES as USCC_REASONS

REASONS: dict[str, str] = {
    "uscc_missing": "the unified social credit code is missing",
    "uscc_length": "a unified social credit code has 18 characters",
    "uscc_charset": "a unified social credit code uses only 0-9 and A-Y without I, O, S, V, Z",
    "uscc_check_digit": "the check character does not match GB 32100-2015",
    "id_missing": "the entity key is missing or empty",
    "duplicate_id": "the entity key appears on another row",
    "invalid_as_of": "the snapshot date is missing or not a date",
    "missing_value": "a value is required for this item",
    "not_numeric": "the value is not a number",
    "not_integer": "the value must be a whole number",
    "out_of_range": "the value is outside the item's valid range",
    "unknown_level": "the value is not a level of this item",
    "invalid_flag": "a flag must be 0 or 1",
    "invalid_date": "the value is not a valid date (YYYY-MM-DD, from 1900 on)",
    "future_date": "the date is after the snapshot date",
    "invalid_target": "the outcome must be 0 or 1",
    "invalid_weight": "the sample weight must be a number of at least 0",
    "invalid_text": "the value is not UTF-8 text (its bytes are shown as \\xNN escapes)",
    "malformed_row": "the CSV row has more or fewer fields than the header",
}

# Columns of a rejects table; the second, the row's id, is headed by the configured id column.
REJECT_COLUMNS = ("row_number", "id", "column", "value", "reason", "detail")
WHOLE_ROW = "*"  # the rejects' column of a problem with the whole row (a malformed CSV row)
_EPOCH_1900 = -25567  # 1900-01-01 in days since 1970-01-01
_NO_DATE = NO_DATE
_EXACT = 2**53  # beyond this, whole numbers do not survive the trip through float64
_NULL_WORD_SET = frozenset(NULL_WORDS)


@dataclass
class ValidationResult:
    """Outcome of validating one table (or one chunk of a stream)."""

    data: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    ignored_columns: tuple[str, ...] = ()
    missing_optional_columns: tuple[str, ...] = ()
    ids: pa.Array | None = None  # the valid rows' ids in normal form (Arrow text), in the order of ``data``

    @property
    def rows_valid(self) -> int:
        return len(self.data)

    @property
    def rows_rejected(self) -> int:
        return int(self.rejects["row_number"].nunique()) if len(self.rejects) else 0

    def reason_counts(self) -> dict[str, int]:
        """Rejected rows per reason code (a row with two problems counts under both)."""
        if not len(self.rejects):
            return {}
        counts = self.rejects.drop_duplicates(["row_number", "reason"])["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.sort_index().items()}

    def summary(self) -> dict:
        """Counts as plain data, for printing or JSON."""
        return {
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": self.reason_counts(),
            "ignored_columns": list(self.ignored_columns),
            "missing_optional_columns": list(self.missing_optional_columns),
        }


@dataclass
class _Group:
    rows: np.ndarray
    column: str
    reason: str
    detail: str
    value_from: str | None = None  # the column holding the value as given (default: ``column``)
    detail_from: str | None = None  # a column holding each row's detail


@dataclass
class _Collector:
    """Row failures gathered column by column, turned into one rejects table at the end.

    A problem that makes the rest meaningless — a malformed row, a value that is not text —
    is recorded first with :meth:`add_first`; later checks then say nothing more about that
    row (or that cell).
    """

    table: pa.Table
    id_column: str
    row_offset: int
    groups: list[_Group] = field(default_factory=list)
    table_problems: list[str] = field(default_factory=list)
    hidden_rows: np.ndarray | None = None
    hidden_cells: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, mask: np.ndarray, column: str, reason: str, detail: str) -> None:
        if self.hidden_rows is not None:
            mask = mask & ~self.hidden_rows
        if column in self.hidden_cells:
            mask = mask & ~self.hidden_cells[column]
        rows = np.flatnonzero(mask)
        if rows.size:
            self.groups.append(_Group(rows, column, reason, detail))

    def add_first(self, mask: np.ndarray, column: str, reason: str, detail: str, **sources: str) -> None:
        rows = np.flatnonzero(mask)
        if not rows.size:
            return
        self.groups.append(_Group(rows, column, reason, detail, **sources))
        if column == WHOLE_ROW:
            self.hidden_rows = mask.copy() if self.hidden_rows is None else self.hidden_rows | mask
        else:
            self.hidden_cells[column] = mask.copy()

    def hidden(self, column: str, n: int) -> np.ndarray:
        """Rows whose ``column`` was already rejected by :meth:`add_first`."""
        out = np.zeros(n, dtype=bool) if self.hidden_rows is None else self.hidden_rows.copy()
        if column in self.hidden_cells:
            out |= self.hidden_cells[column]
        return out

    def bad_rows(self, n: int) -> np.ndarray:
        bad = np.zeros(n, dtype=bool)
        for g in self.groups:
            bad[g.rows] = True
        return bad

    def _text(self, column: str | None, idx: pa.Array) -> pa.Array:
        if column is None or column not in self.table.column_names:
            return pa.nulls(len(idx), pa.string())
        return cap(as_string(self.table.column(column).take(idx)))

    def rejects(self) -> pd.DataFrame:
        if not self.groups:
            return _empty_rejects(self.id_column)
        parts = []
        for g in self.groups:
            idx = pa.array(g.rows)
            value_from = g.value_from or (g.column if g.column != WHOLE_ROW else None)
            parts.append(
                pd.DataFrame(
                    {
                        "row_number": g.rows.astype(np.int64) + self.row_offset + 1,
                        self.id_column: self._text(self.id_column, idx).to_pandas(),
                        "column": g.column,
                        "value": self._text(value_from, idx).to_pandas(),
                        "reason": g.reason,
                        "detail": self._text(g.detail_from, idx).to_pandas() if g.detail_from else g.detail,
                    }
                )
            )
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["row_number", "column"], kind="stable", ignore_index=True)


def _empty_rejects(id_column: str = REJECT_COLUMNS[1]) -> pd.DataFrame:
    if id_column not in _EMPTY_REJECTS:
        _EMPTY_REJECTS[id_column] = _new_empty_rejects(id_column)
    return _EMPTY_REJECTS[id_column].copy()


_EMPTY_REJECTS: dict[str, pd.DataFrame] = {}


def _new_empty_rejects(id_column: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_number": pd.Series(dtype=np.int64),
            **{c: pd.Series(dtype=object) for c in (id_column, *REJECT_COLUMNS[2:])},
        }
    )


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


# ---------------------------------------------------------------------------- text as given


def _as_utf8(table: pa.Table, columns: list[str], col: _Collector, checked: set[str]) -> pa.Table:
    """Text columns as valid UTF-8 strings: binary read as text; a value whose bytes are not
    UTF-8 is rewritten with ``\\xNN`` escapes and, in a ``checked`` column, rejected."""
    for name in columns:
        arr = _column(table, name)
        t = arr.type
        if pa.types.is_dictionary(t) and is_text_type(t.value_type):
            values = as_string(arr.dictionary)
            bad_values = invalid_utf8(values)
            if bad_values is None and values.type == arr.dictionary.type:
                continue
            bad = None
            if bad_values is not None:
                values = escape_invalid(values, bad_values)
                bad = _mask(pc.take(pa.array(bad_values), arr.indices))
            arr = pa.DictionaryArray.from_arrays(arr.indices, values)
        elif is_text_type(t):
            text = as_string(arr)
            bad = invalid_utf8(text)
            if bad is None and text.type == t:
                continue
            arr = escape_invalid(text, bad) if bad is not None else text
        else:
            continue
        table = table.set_column(table.schema.get_field_index(name), name, arr)
        if bad is not None and name in checked:
            col.add_first(bad, name, "invalid_text", REASONS["invalid_text"])
    col.table = table
    return table


# ---------------------------------------------------------------------------- kinds


def _numeric(
    arr: pa.Array, column: str, col: _Collector, whole: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """float64 values (NaN for missing and for values that are not numbers), the mask of values
    that are not numbers (rejected here as ``not_numeric``) and the mask of whole numbers too
    large to hold exactly in a float64 (the caller rejects them as out of range)."""
    t = arr.type
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    if pa.types.is_null(t):
        return np.full(n, np.nan), none, none
    if pa.types.is_dictionary(t):
        arr, t = arr.dictionary_decode(), t.value_type
    if pa.types.is_integer(t):
        too_big = none
        if t.bit_width > 32:
            too_big = _mask(pc.or_(pc.greater(arr, _EXACT), pc.less(arr, -_EXACT)))
        values = pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return values.astype(np.float64, copy=False), none, too_big
    if pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        values = pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return values.astype(np.float64, copy=False), none, none
    if is_text_type(t):
        text = as_string(arr)
        empty = blank(text)
        trimmed = pc.if_else(pa.array(empty), pa.scalar(None, text.type), pc.utf8_trim_whitespace(text))
        try:
            values = pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            values = pd.to_numeric(pd.Series(trimmed.to_numpy(zero_copy_only=False)), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        not_number = ~empty & np.isnan(values)
        if whole and not_number.all():
            col.table_problems.append(f"column {column!r} should hold numbers but none of its values is one")
            return None
        col.add(not_number, column, "not_numeric", REASONS["not_numeric"])
        return values.astype(np.float64, copy=False), not_number, none
    col.table_problems.append(f"column {column!r} should hold numbers but is of type {t}")
    return None


def _date_days(arr: pa.Array, column: str, col: _Collector, whole: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Days since 1970-01-01 as int32 (``_NO_DATE`` for missing or invalid), and the mask of
    values that were given but are not dates."""
    parsed = date_days(arr)
    if parsed is None:
        col.table_problems.append(f"column {column!r} should hold dates but is of type {arr.type}")
        return None
    days, bad = parsed
    if whole and bad.any() and bad.all():
        col.table_problems.append(f"column {column!r} should hold dates (YYYY-MM-DD) but none of its values is one")
        return None
    return days, bad


def _categorical(arr: pa.Array, item: CatalogueItem, col: _Collector) -> np.ndarray | None:
    """Codes into the item's levels: -1 for missing, -2 for a level the item does not have."""
    t = arr.type
    if pa.types.is_null(t):
        return np.full(len(arr), -1, dtype=np.int32)
    if pa.types.is_integer(t) or (pa.types.is_dictionary(t) and pa.types.is_integer(t.value_type)):
        arr = pc.cast(arr.dictionary_decode() if pa.types.is_dictionary(t) else arr, pa.string())
        t = arr.type
    if is_text_type(t):
        arr = pc.dictionary_encode(as_string(arr))
    elif not (pa.types.is_dictionary(t) and is_text_type(t.value_type)):
        col.table_problems.append(f"column {item.id!r} should hold category codes but is of type {t}")
        return None
    lookup = {code: i for i, code in enumerate(item.level_codes)}
    # One Python step per distinct level in the file (never per row).
    mapping = np.array([_level(v, lookup) for v in as_string(arr.dictionary).to_pylist()] + [-1], dtype=np.int32)
    idx = pc.fill_null(arr.indices, len(mapping) - 1).to_numpy(zero_copy_only=False)
    return mapping[idx]


def _level(value: str | None, lookup: dict[str, int]) -> int:
    if value in lookup:
        return lookup[value]
    if value is None or value.strip() == "" or value.strip() in _NULL_WORD_SET:
        return -1
    return -2


# ---------------------------------------------------------------------------- validation


def validate_table(
    table: pa.Table | pd.DataFrame,
    schema: RegistrySchema,
    *,
    row_offset: int = 0,
    source: str = "the input table",
    ignored_columns: tuple[str, ...] | list[str] | None = None,
    passthrough: tuple[str, ...] | list[str] = (),
    duplicate_rows: np.ndarray | None = None,
    seen_keys=None,
    keep_columns: set[str] | frozenset[str] | None = None,
    chunk: bool | None = None,
) -> ValidationResult:
    """Validate a registry table and split it into typed valid rows and rejects.

    Parameters
    ----------
    table : pyarrow.Table or pandas.DataFrame
        The registry rows, with at least the schema's required columns.
    schema : RegistrySchema
        The data contract (keys, target, catalogue).
    row_offset : int
        Number of rows before this table in its file (for streamed chunks); reject row
        numbers are 1-based positions in the whole file.
    source : str
        How to name the table in error messages.
    passthrough : sequence of str
        Columns outside the contract to carry, unchecked, into the valid rows (e.g. the
        synthetic registry's ``true_pd``); they are not listed as ignored.
    duplicate_rows : numpy.ndarray, optional
        Positions (0-based, in this table) of rows whose key a caller found repeated across a
        whole stream of tables (see :mod:`credit_grading.batch.keys`); they replace the
        table's own duplicate check, which can only see this table.
    seen_keys : credit_grading.batch.keys.SeenKeys, optional
        The keys of the stream's earlier tables (``keep_first`` only): a row whose key is in it
        is a duplicate, and the keys of this table's other valid rows are added to it. Replaces
        the table's own duplicate check, like ``duplicate_rows``.
    keep_columns : set of str, optional
        Catalogue items to carry into the valid rows (every item is still validated); the
        default carries them all. Batch grading keeps only what the model and rules read.
    chunk : bool, optional
        Whether ``table`` is one chunk of a stream (by default: when ``duplicate_rows`` is
        given). A chunk is never refused for its values: a value that is not a number or a
        date is a row reject even if no other value of the chunk is one. A whole table in which
        a column holds no number (or no date) at all is refused with a :class:`SchemaError`.

    Returns
    -------
    ValidationResult

    Examples
    --------
    >>> import pandas as pd
    >>> from credit_grading.catalogue import Catalogue, CatalogueItem
    >>> cat = Catalogue(items=[CatalogueItem(id="income", type="numeric", min=0)])
    >>> schema = RegistrySchema(cat, id_column="id", id_format="any", as_of_column=None,
    ...                         target_column=None)
    >>> res = validate_table(pd.DataFrame({"id": ["a", "b"], "income": [5.0, -1.0]}), schema)
    >>> res.rows_valid, res.rows_rejected, res.rejects.loc[0, "reason"]
    (1, 1, 'out_of_range')
    """
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    whole = (duplicate_rows is None and seen_keys is None) if chunk is None else not chunk
    names = [c for c in table.column_names if c not in MALFORMED_COLUMNS]
    if ignored_columns is None:
        ignored_columns = check_columns(names, schema, source)
    problems = schema.kind_problems(table.schema)
    if problems:
        raise SchemaError(f"{source} does not match the registry contract: " + "; ".join(problems))
    table = table.unify_dictionaries()
    n = table.num_rows
    if schema.numbered:
        table = with_row_ids(table, schema, row_offset, source)
    col = _Collector(table, schema.id_column, row_offset)
    present = set(names)
    known = [c for c in schema.known_columns if c in present]
    table = _as_utf8(table, known + [c for c in passthrough if c in present and c not in known], col, set(known))
    out: dict[str, object] = {}

    # A CSV row with more or fewer fields than the header came as a row of nulls: reject it whole.
    if MALFORMED_DETAIL in table.column_names:
        malformed = ~np.asarray(_column(table, MALFORMED_DETAIL).is_null().to_numpy(zero_copy_only=False), dtype=bool)
        col.add_first(malformed, WHOLE_ROW, "malformed_row", REASONS["malformed_row"],
                      value_from=MALFORMED_TEXT, detail_from=MALFORMED_DETAIL)  # fmt: skip

    # Entity key, in the normal form the duplicate pre-pass of batch rescoring uses too.
    ids, missing, _ = normal_ids(_column(table, schema.id_column), schema.id_format)
    status = id_status(ids, missing, np.zeros(n, dtype=bool), schema.id_format)
    if status is not None:
        for code, reason in USCC_REASONS.items():
            col.add(status == code, schema.id_column, reason, REASONS[reason])
        id_ok = status == 0
    else:
        col.add(missing, schema.id_column, "id_missing", REASONS["id_missing"])
        id_ok = ~missing
    id_ok &= ~col.hidden(schema.id_column, n)
    # Snapshot date.
    as_of_days = None
    if schema.as_of_column:
        parsed = _date_days(_column(table, schema.as_of_column), schema.as_of_column, col, whole)
        if parsed is not None:
            as_of_days, _ = parsed
            col.add(as_of_days == _NO_DATE, schema.as_of_column, "invalid_as_of", REASONS["invalid_as_of"])
            out[schema.as_of_column] = as_of_days

    # One row per entity and snapshot: a file may hold several snapshots of the same entities.
    if duplicate_rows is not None:
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(duplicate_rows, dtype=np.int64)] = True
        keep_first = schema.duplicates == DuplicatePolicy.KEEP_FIRST
        detail = ("the same key (and snapshot date) appears on an earlier row; the first is kept" if keep_first
                  else "the same key (and snapshot date) appears on more than one row; all are rejected")  # fmt: skip
        col.add(mask & id_ok, schema.id_column, "duplicate_id", detail)
    elif seen_keys is not None:
        if schema.duplicates != DuplicatePolicy.KEEP_FIRST:
            raise ValueError("a stream's seen keys find duplicates under keep_first only")
        if not col.table_problems:
            repeated = seen_keys.repeated(ids, id_ok, as_of_days if schema.as_of_column else None)
            col.add(repeated, schema.id_column, "duplicate_id",
                    "the same key (and snapshot date) appears on an earlier row; the first is kept")  # fmt: skip
    elif not col.table_problems:
        _duplicates(ids, id_ok, schema, col, as_of_days)

    # Outcome.
    if schema.target_column and schema.target_column in present:
        parsed = _target(_column(table, schema.target_column), schema, col, whole)
        if parsed is not None:
            y = parsed[0]
            col.add(~np.isnan(y) & (y != 0) & (y != 1), schema.target_column, "invalid_target", _target_detail(schema))
            out[schema.target_column] = y
    # Sample weight: a non-negative number on every row.
    if schema.weight_column and schema.weight_column in present:
        parsed = _numeric(_column(table, schema.weight_column), schema.weight_column, col, whole)
        if parsed is not None:
            w = parsed[0]
            col.add(~(w >= 0) & ~parsed[1], schema.weight_column, "invalid_weight", REASONS["invalid_weight"])
            out[schema.weight_column] = w

    # Catalogue items.
    missing_optional = []
    for item in schema.input_items:
        if item.id not in present:
            missing_optional.append(item.id)
            out[item.id] = None
            continue
        out[item.id] = _validate_item(_column(table, item.id), item, col, as_of_days, whole)
    for item in schema.derived_items:
        out[item.id] = _derive(item, out, as_of_days, col)

    if col.table_problems:
        raise SchemaError(f"{source} does not match the registry contract: " + "; ".join(col.table_problems))

    bad = col.bad_rows(n)
    keep = np.flatnonzero(~bad)
    valid_ids = ids if keep.size == n else ids.take(pa.array(keep))
    data = _typed_frame(valid_ids, schema, out, keep, row_offset, keep_columns, n)
    for name in passthrough:
        if name not in present:
            raise SchemaError(f"{source} has no column {name!r} to pass through")
        data[name] = table.column(name).take(pa.array(keep)).to_numpy(zero_copy_only=False)
    return ValidationResult(
        data=data,
        rejects=col.rejects(),
        rows_read=n,
        ignored_columns=tuple(c for c in ignored_columns if c not in set(passthrough)),
        missing_optional_columns=tuple(missing_optional),
        ids=valid_ids,
    )


def with_row_ids(table: pa.Table, schema: RegistrySchema, row_offset: int, source: str = "input") -> pa.Table:
    """``table`` with the id column of a dataset without ids: the 1-based row number in the file."""
    if schema.id_column in table.column_names:
        raise SchemaError(
            f"{source} has a column {schema.id_column!r}, the name given to row numbers when no dataset.id_column "
            "is configured; name that column as the id_column, or rename it"
        )
    rows = np.arange(row_offset + 1, row_offset + table.num_rows + 1, dtype=np.int64)
    return table.append_column(schema.id_column, pa.array(rows))


def _target(arr: pa.Array, schema: RegistrySchema, col: _Collector, whole: bool) -> tuple[np.ndarray, ...] | None:
    """The target as 1 (bad) / 0 (good) / NaN (missing): as given when no mapping is configured,
    else ``bad_values`` → 1 and ``good_values`` → 0; any other value is the other class when only
    one list is given and an invalid target when both are."""
    bad, good = schema.bad_values, schema.good_values
    if bad is None and good is None:
        return _numeric(arr, schema.target_column, col, whole)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    given = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    text = np.asarray(as_string(arr.cast(pa.string()) if not is_text_type(arr.type) else arr)
                      .fill_null("").to_numpy(zero_copy_only=False), dtype=object)  # fmt: skip
    text = np.array([t.strip() for t in text], dtype=object)

    def matches(values) -> np.ndarray:
        hit = np.isin(text, [str(v) for v in values])
        numbers = [float(v) for v in values if not isinstance(v, str)]
        if numbers:
            with np.errstate(invalid="ignore"):
                num = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=np.float64)
            hit |= np.isin(num, numbers)
        return hit & given

    is_bad = matches(bad) if bad else None
    is_good = matches(good) if good else None
    y = np.full(len(arr), np.nan)
    if is_bad is not None and is_good is not None:
        y[is_good], y[is_bad] = 0.0, 1.0
        y[given & ~is_bad & ~is_good] = 2.0  # neither: rejected as an invalid target
    elif is_bad is not None:
        y[given] = 0.0
        y[is_bad] = 1.0
    else:
        y[given] = 1.0
        y[is_good] = 0.0
    none = np.zeros(len(arr), dtype=bool)
    return y, none, none


def _target_detail(schema: RegistrySchema) -> str:
    if schema.bad_values is None and schema.good_values is None:
        return REASONS["invalid_target"]
    values = [str(v) for v in (schema.bad_values or ()) + (schema.good_values or ())]
    return f"the outcome must be one of {', '.join(values)} (dataset.bad_values / good_values)"


def _duplicates(
    ids: pa.Array, id_ok: np.ndarray, schema: RegistrySchema, col: _Collector, as_of_days: np.ndarray | None
) -> None:
    rows = np.flatnonzero(id_ok)
    if rows.size < 2:
        return
    codes = pc.dictionary_encode(ids.take(pa.array(rows))).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    if as_of_days is not None:  # the key is (id, as-of day)
        codes = (codes << 32) | (as_of_days[rows].astype(np.int64) & 0xFFFFFFFF)
    uniq, first, counts = np.unique(codes, return_index=True, return_counts=True)
    if counts.max() == 1:
        return
    dup = np.zeros(rows.size, dtype=bool)
    if schema.duplicates == DuplicatePolicy.KEEP_FIRST:
        dup[:] = True
        dup[first] = False
        detail = "the same key (and snapshot date) appears on an earlier row; the first is kept"
    else:
        dup = counts[np.searchsorted(uniq, codes)] > 1
        detail = "the same key (and snapshot date) appears on more than one row; all are rejected"
    mask = np.zeros(len(ids), dtype=bool)
    mask[rows[dup]] = True
    col.add(mask, schema.id_column, "duplicate_id", detail)


def _range_detail(item: CatalogueItem) -> str:
    unit = f" {item.unit}" if item.unit else ""
    if item.min is not None and item.max is not None:
        return f"valid range {item.min:g} to {item.max:g}{unit}"
    if item.min is not None:
        return f"must be at least {item.min:g}{unit}"
    return f"must be at most {item.max:g}{unit}"


def _plain_number_type(t: pa.DataType) -> bool:
    # (uint64 stays with the vectorised checks: its bound against 2^53 is compared exactly there)
    return (pa.types.is_integer(t) and not pa.types.is_uint64(t)) or pa.types.is_float32(t) or pa.types.is_float64(t)


def _check_number_buffers(arr: pa.Array, item: CatalogueItem, col: _Collector) -> np.ndarray:
    """The checks of a numeric or flag item held as Arrow integers or floats, fused into one
    compiled pass over the column's buffers (the same values, reasons and details as the
    vectorised checks below, which read every other type)."""
    from credit_grading.registry import _validate_nb as nb

    n = len(arr)
    bitmap_buf, data_buf = arr.buffers()[:2]
    dtype = np.dtype(arr.type.to_pandas_dtype())
    values = np.frombuffer(data_buf, dtype=dtype)[arr.offset : arr.offset + n] if n else np.zeros(0, dtype)
    has_nulls = arr.null_count > 0 and bitmap_buf is not None
    bitmap = np.frombuffer(bitmap_buf, dtype=np.uint8) if has_nulls else np.zeros(1, np.uint8)
    out = np.empty(n, dtype=np.float64)
    codes = np.zeros(n, dtype=np.uint8)
    flag = item.type is ItemType.FLAG
    lo = -np.inf if item.min is None else float(item.min)
    hi = np.inf if item.max is None else float(item.max)
    specials = np.asarray(item.special_codes or (), dtype=np.float64)
    too_big = nb.check_values(values, bitmap, arr.offset, has_nulls, dtype == np.int64, flag,
                              item.missing.allowed, lo, hi, bool(item.integer), specials, out, codes)  # fmt: skip
    if not codes.any():
        return out
    counts = np.bincount(codes, minlength=5)
    if counts[nb.MISSING]:
        col.add(codes == nb.MISSING, item.id, "missing_value",
                f"missing is not allowed ({item.missing.meaning_en or 'required'})")  # fmt: skip
    if counts[nb.INVALID_FLAG]:
        col.add(codes == nb.INVALID_FLAG, item.id, "invalid_flag", REASONS["invalid_flag"])
    if counts[nb.OUT_OF_RANGE]:
        detail = _range_detail(item) if item.min is not None or item.max is not None else ""
        if too_big:
            detail = "; ".join(d for d in (detail, f"whole numbers beyond ±2^53 ({_EXACT:,}) are not exact") if d)
        col.add(codes == nb.OUT_OF_RANGE, item.id, "out_of_range", detail)
    if counts[nb.NOT_INTEGER]:
        col.add(codes == nb.NOT_INTEGER, item.id, "not_integer", REASONS["not_integer"])
    return out


def _validate_item(
    arr: pa.Array, item: CatalogueItem, col: _Collector, as_of_days: np.ndarray | None, whole: bool
) -> np.ndarray | pa.Array | None:
    t = item.type
    if t in (ItemType.NUMERIC, ItemType.FLAG) and _plain_number_type(arr.type):
        return _check_number_buffers(arr, item, col)
    if t in (ItemType.NUMERIC, ItemType.FLAG):
        parsed = _numeric(arr, item.id, col, whole)
        if parsed is None:
            return None
        v, not_number, too_big = parsed
        given = ~np.isnan(v)
        if not item.missing.allowed:  # a value that is not a number is reported as that alone
            col.add(~given & ~not_number, item.id, "missing_value",
                    f"missing is not allowed ({item.missing.meaning_en or 'required'})")  # fmt: skip
        if t is ItemType.FLAG:
            col.add(given & (v != 0) & (v != 1), item.id, "invalid_flag", REASONS["invalid_flag"])
            return v
        with np.errstate(invalid="ignore"):
            out_of_range = np.isinf(v) | too_big
            if item.min is not None:
                out_of_range |= v < item.min
            if item.max is not None:
                out_of_range |= v > item.max
        if item.special_codes:
            # Special codes (e.g. -1 for "withheld") are valid values outside the range.
            out_of_range &= ~(np.isin(v, np.asarray(item.special_codes, dtype=np.float64)) & ~too_big)
        if out_of_range.any():
            detail = _range_detail(item) if item.min is not None or item.max is not None else ""
            if too_big.any():
                detail = "; ".join(d for d in (detail, f"whole numbers beyond ±2^53 ({_EXACT:,}) are not exact") if d)
            col.add(out_of_range, item.id, "out_of_range", detail)
        if item.integer:
            finite = given & ~out_of_range
            col.add(finite & (v != np.floor(v)), item.id, "not_integer", REASONS["not_integer"])
        return v
    if t is ItemType.CATEGORICAL:
        codes = _categorical(arr, item, col)
        if codes is None:
            return None
        unknown = codes == -2
        col.add(unknown, item.id, "unknown_level", f"expected one of {', '.join(item.level_codes)}")
        if not item.missing.allowed:
            col.add(codes == -1, item.id, "missing_value", "missing is not allowed")
        codes[unknown] = -1
        return codes
    if t is ItemType.DATE:
        parsed = _date_days(arr, item.id, col, whole)
        if parsed is None:
            return None
        days, bad = parsed
        col.add(bad, item.id, "invalid_date", REASONS["invalid_date"])
        given = days != _NO_DATE
        col.add(given & (days < _EPOCH_1900), item.id, "invalid_date", "a date before 1900-01-01")
        if as_of_days is not None:
            ok_asof = as_of_days != _NO_DATE
            col.add(given & ok_asof & (days > as_of_days), item.id, "future_date", REASONS["future_date"])
        if not item.missing.allowed:
            col.add(~given & ~bad, item.id, "missing_value", "missing is not allowed")
        return days
    # Text: "NA", "" and the like are missing; the valid rows hold them as nulls.
    text = as_string(arr)
    empty = blank(text)
    if not item.missing.allowed:
        col.add(empty, item.id, "missing_value", "missing is not allowed")
    return pc.if_else(pa.array(empty), pa.scalar(None, text.type), text) if empty.any() else text


def _derive(item: CatalogueItem, out: dict, as_of_days: np.ndarray | None, col: _Collector) -> np.ndarray | None:
    """Numeric items computed from a date: years between that date and the snapshot."""
    days = out.get(item.derived_from)
    if days is None or as_of_days is None:
        return None
    ok = (days != _NO_DATE) & (as_of_days != _NO_DATE)
    years = np.where(ok, (as_of_days.astype(np.float64) - days) / 365.25, np.nan)
    with np.errstate(invalid="ignore"):
        too_old = ok & (item.max is not None) & (years > (item.max if item.max is not None else np.inf))
    col.add(too_old, item.derived_from, "out_of_range", f"{item.id} over {item.max:g} years" if item.max else "")
    return years


def _days_to_datetime(days: np.ndarray) -> np.ndarray:
    out = days.astype("datetime64[D]").astype("datetime64[ns]")
    out[days == _NO_DATE] = np.datetime64("NaT")
    return out


def _typed_frame(
    ids: pa.Array,
    schema: RegistrySchema,
    out: dict,
    keep: np.ndarray,
    row_offset: int,
    only: set[str] | None,
    n: int,
) -> pd.DataFrame:
    """The valid rows as a typed DataFrame indexed by 1-based row number (``ids``: theirs, in normal form)."""
    k = keep.size
    sel = slice(None) if k == n else keep  # every row valid (the usual chunk): the columns as they are, no copy
    cols: dict[str, object] = {}
    cols[schema.id_column] = ids.to_pandas()
    if schema.as_of_column:
        cols[schema.as_of_column] = _days_to_datetime(out[schema.as_of_column][sel])
    if schema.target_column:
        y = out.get(schema.target_column)
        y = y[sel] if y is not None else np.full(k, np.nan)
        cols[schema.target_column] = pd.array(y, dtype="Float64").astype("Int8")
    if schema.weight_column:
        w = out.get(schema.weight_column)
        cols[schema.weight_column] = w[sel] if w is not None else np.ones(k)
    for item in schema.catalogue.items:
        if only is not None and item.id not in only:
            continue
        v = out.get(item.id)
        if item.type in (ItemType.NUMERIC, ItemType.FLAG):
            cols[item.id] = v[sel] if v is not None else np.full(k, np.nan)
        elif item.type is ItemType.CATEGORICAL:
            codes = v[sel] if v is not None else np.full(k, -1, dtype=np.int32)
            cols[item.id] = pd.Categorical.from_codes(codes, categories=list(item.level_codes))
        elif item.type is ItemType.DATE:
            cols[item.id] = _days_to_datetime(v[sel] if v is not None else np.full(k, _NO_DATE, np.int32))
        else:
            text = (v if sel is not keep else v.take(pa.array(keep))) if v is not None else pa.nulls(k, pa.string())
            cols[item.id] = text.to_pandas()
    frame = pd.DataFrame(cols, copy=False)  # one block per column: no copy into 2-D blocks
    frame.index = pd.Index(keep.astype(np.int64) + row_offset + 1, name="row_number")
    return frame
