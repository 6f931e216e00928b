"""Reading registry files (CSV or Parquet) into Arrow tables, with table-level checks.

Only table-level problems are raised here (unreadable file, unknown format, a file that is not
UTF-8 text, missing required columns, a Parquet column of the wrong type); each names every
problem at once. Row-level problems are the business of :mod:`credit_grading.registry.validate`.

CSV files are read as a stream of batches by :func:`iter_csv` — the same rows, cut the same
way, for whole-file validation, the rescoring chunks and the rescoring key pre-pass. A row
with more or fewer fields than the header does not stop the reading: it comes through at its
place as a row of nulls marked in the :data:`MALFORMED_DETAIL` and :data:`MALFORMED_TEXT`
columns, and validation rejects it as ``malformed_row``.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_grading.exceptions import DataError, SchemaError
from credit_grading.registry.schema import RegistrySchema

MALFORMED_DETAIL = "__malformed_row__"  # why a placeholder row stands where a malformed CSV row was
MALFORMED_TEXT = "__malformed_text__"  # the malformed row's text as given
MALFORMED_COLUMNS = (MALFORMED_DETAIL, MALFORMED_TEXT)
SNIFF_BYTES = 1 << 20  # how much of a CSV file is checked for its encoding before reading it

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")


def file_format(path: Path | str) -> str:
    """``"parquet"`` or ``"csv"`` from the file name; a clear error otherwise."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataError(
        f"cannot tell the format of {path}: use a name ending in .parquet, .pq or .csv (optionally .csv.gz or .csv.bz2)"
    )


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    if not path.is_file():
        raise DataError(f"input path is not a file: {path}")


def read_columns(path: Path | str) -> list[str]:
    """Column names of a registry file, read from its header or Parquet schema only."""
    path = Path(path)
    _check_exists(path)
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return list(pq.read_schema(path).names)
        problem = encoding_problem(path, limit=SNIFF_BYTES)
        if problem:
            raise DataError(problem)
        with _open_binary(path) as raw, codecs.getreader("utf-8-sig")(raw) as fh:
            header = next(csv.reader(fh), None)
    except (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as {fmt}: {exc}") from None
    if not header:
        raise DataError(f"{path} is empty: a CSV registry needs a header line")
    return [h.strip() for h in header]


def check_columns(columns: list[str], schema: RegistrySchema, source: str) -> list[str]:
    """Raise one :class:`SchemaError` naming every missing required column and any repeated
    column; return the names of columns the contract does not know (they are ignored)."""
    problems = []
    seen: set[str] = set()
    repeated = sorted({c for c in columns if c in seen or seen.add(c)})
    if repeated:
        problems.append(f"column(s) appear more than once: {', '.join(repeated)}")
    missing = [c for c in schema.required_columns if c not in columns]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if problems:
        raise SchemaError(f"{source} does not match the registry contract: " + "; ".join(problems))
    known = set(schema.known_columns)
    return [c for c in columns if c not in known]


def read_registry_table(
    path: Path | str, schema: RegistrySchema, extra: tuple[str, ...] | list[str] = ()
) -> tuple[pa.Table, list[str]]:
    """Read the known columns of a registry file into an Arrow table.

    Returns the table and the list of ignored (unknown) column names. CSV columns are first
    read with their contract types; if a value does not convert, the rest of the file is read
    with every known column as text so that validation can name each bad value. A malformed
    CSV row comes through as a marked placeholder row (see :func:`iter_csv`).
    """
    path = Path(path)
    columns = read_columns(path)
    ignored = check_columns(columns, schema, str(path))
    missing_extra = [c for c in extra if c not in columns]
    if missing_extra:
        raise SchemaError(f"{path} has no column(s) {', '.join(missing_extra)} to pass through")
    wanted = [c for c in schema.known_columns if c in columns] + [c for c in extra if c not in schema.known_columns]
    fmt = file_format(path)
    if fmt == "parquet":
        check_parquet_kinds(path, schema)
        try:
            return pq.read_table(path, columns=wanted), ignored
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read {path} as parquet: {exc}") from None
    known = set(schema.known_columns)
    typed = {c: schema.csv_read_type(c) for c in wanted if c in known}
    text = {c: pa.string() for c in wanted if c in known}
    batches = list(iter_csv(path, wanted, typed, text, block_size=1 << 24))
    return unify_batches(batches, wanted), ignored


def check_parquet_kinds(path: Path, schema: RegistrySchema) -> None:
    """Raise one :class:`SchemaError` naming every column of a Parquet file whose type cannot
    hold its kind of value (decided once, from the file's schema)."""
    try:
        fields = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path} as parquet: {exc}") from None
    problems = schema.kind_problems(fields)
    if problems:
        raise SchemaError(f"{path} does not match the registry contract: " + "; ".join(problems))


def iter_csv(
    path: Path,
    columns: list[str],
    types: dict[str, pa.DataType],
    text_types: dict[str, pa.DataType],
    *,
    start: int = 0,
    block_size: int = 1 << 22,
) -> Iterator[pa.RecordBatch]:
    """The data rows of a CSV file from row ``start`` (0-based) on, as record batches.

    Columns are converted to ``types``; if a value does not convert, the rest of the file is
    read with ``text_types`` (validation then names the value). A row with more or fewer
    fields than the header comes as a one-row batch of nulls at its place, with the two
    :data:`MALFORMED_COLUMNS` telling why and what the row said. Text keeps its value as given
    (an empty cell is ``""``, ``NA`` is ``"NA"``): validation decides what is missing.
    A file that is not UTF-8 or not CSV raises one :class:`DataError` naming the line.
    """
    emitted = 0
    for conv in (types, text_types):
        malformed: list[tuple[int | None, int, int, str]] = []

        def handler(row, found=malformed) -> str:
            found.append((row.number, row.actual_columns, row.expected_columns, row.text))
            return "skip"

        try:
            # One thread: the parser then numbers the rows it skips (a malformed row's place).
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
                parse_options=pacsv.ParseOptions(invalid_row_handler=handler),
                convert_options=pacsv.ConvertOptions(
                    column_types=conv, include_columns=columns, strings_can_be_null=False
                ),
            )
            pos = 0  # data rows passed so far, malformed ones included
            schema = None
            for batch in reader:
                schema = batch.schema
                i = 0
                while True:
                    while malformed and _place(malformed[0], path) == pos:
                        if pos >= start + emitted:
                            yield _placeholder(schema, malformed[0])
                            emitted += 1
                        malformed.pop(0)
                        pos += 1
                    if i == batch.num_rows:
                        break
                    take = batch.num_rows - i
                    if malformed:
                        _check_order(_place(malformed[0], path), pos, path)
                        take = min(take, _place(malformed[0], path) - pos)
                    skip = min(max(start + emitted - pos, 0), take)
                    if take > skip:
                        yield batch.slice(i + skip, take - skip)
                        emitted += take - skip
                    i += take
                    pos += take
            for row in malformed:  # malformed rows after the last good one
                if pos >= start + emitted:
                    yield _placeholder(schema or _schema_of(conv, columns), row)
                    emitted += 1
                pos += 1
            return
        except pa.ArrowInvalid as exc:
            text = str(exc)
            if "UTF8" in text or "UTF-8" in text:
                raise DataError(encoding_problem(path) or f"{path} is not UTF-8 text: {exc}") from None
            if conv is types and "conversion error" in text:
                continue  # a value did not convert: read the rest as text
            raise DataError(f"cannot read {path} as csv: {exc}") from None
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read {path} as csv: {exc}") from None


def _place(row: tuple, path: Path) -> int:
    """0-based data row of a malformed row (the parser counts records from 1, the header first)."""
    number = row[0]
    if number is None:  # pragma: no cover - single-threaded reading always numbers rows
        raise DataError(f"{path} has a row with {row[1]} fields where the header has {row[2]}: {row[3][:80]!r}")
    return number - 2


def _check_order(place: int, pos: int, path: Path) -> None:
    if place < pos:  # pragma: no cover - the parser reports a row before handing out its batch
        raise DataError(f"cannot place the malformed line {place + 2} of {path}: the reader has passed it")


def _placeholder(schema: pa.Schema, row: tuple) -> pa.RecordBatch:
    number, found, expected = row[0], row[1], row[2]
    fields = "field" if found == 1 else "fields"
    detail = f"line {number} has {found} {fields} where the header has {expected} (empty lines not counted)"
    arrays = [pa.nulls(1, f.type) for f in schema if f.name not in MALFORMED_COLUMNS]
    names = [f.name for f in schema if f.name not in MALFORMED_COLUMNS]
    return pa.RecordBatch.from_arrays(
        [*arrays, pa.array([detail]), pa.array([row[3]])], names=[*names, *MALFORMED_COLUMNS]
    )


def _schema_of(types: dict[str, pa.DataType], columns: list[str]) -> pa.Schema:
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in columns])


def unify_batches(batches: list[pa.RecordBatch], columns: list[str]) -> pa.Table:
    """One table from batches that may differ in type (a CSV read typed, then as text: those
    columns become text) or lack the malformed-row columns (filled with nulls)."""
    if not batches:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    names = list(batches[0].schema.names)
    for b in batches:
        names += [n for n in b.schema.names if n not in names]
    types: dict[str, set] = {n: {b.schema.field(n).type for b in batches if n in b.schema.names} for n in names}
    target = pa.schema([pa.field(n, next(iter(t)) if len(t) == 1 else pa.string()) for n, t in types.items()])
    out = []
    for b in batches:
        arrays = []
        for f in target:
            if f.name not in b.schema.names:
                arrays.append(pa.nulls(b.num_rows, f.type))
                continue
            col = b.column(f.name)
            arrays.append(col if col.type == f.type else _to_text(col))
        out.append(pa.RecordBatch.from_arrays(arrays, schema=target))
    return pa.Table.from_batches(out, schema=target)


def _to_text(col: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return pc.cast(col, pa.string())


def encoding_problem(path: Path | str, limit: int | None = None) -> str | None:
    """Where a CSV file stops being UTF-8 text, as one sentence naming the line; ``None`` if
    it is UTF-8 (in its first ``limit`` bytes, when given). A UTF-8 byte-order mark is fine."""
    path = Path(path)
    with _open_binary(path) as fh:
        head = fh.read(4)
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            return _encoding_message(path, "it starts with a UTF-32 byte-order mark")
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return _encoding_message(path, "it starts with a UTF-16 byte-order mark")
        decoder = codecs.getincrementaldecoder("utf-8")()
        lines = 0
        seen = 0
        block = head
        while True:
            if b"\x00" in block:
                line = lines + block[: block.index(b"\x00")].count(b"\n") + 1
                return _encoding_message(path, f"line {line} holds NUL bytes, as UTF-16 text does")
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                data = exc.object
                line = lines + data[: exc.start].count(b"\n") + 1
                where = data[exc.start : exc.start + 4].hex(" ")
                return _encoding_message(path, f"line {line} holds the bytes {where}", _guess(data, exc.start))
            if not block:
                return None
            lines += block.count(b"\n")
            seen += len(block)
            if limit is not None and seen >= limit:
                return None
            block = fh.read(1 << 20)


def _guess(data: bytes, at: int) -> str:
    """A hint at the encoding of the bytes around ``at`` (the line they are on)."""
    start = data.rfind(b"\n", 0, at) + 1
    end = data.find(b"\n", at)
    line = data[start : end if end >= 0 else len(data)]
    try:
        line.decode("gb18030")
    except UnicodeDecodeError:
        return ""
    return ", which read as GB18030/GBK (the Chinese Windows encoding)"


def _encoding_message(path: Path, what: str, hint: str = "") -> str:
    return (
        f"{path} is not UTF-8 text: {what}{hint}. Registry CSV files are read as UTF-8: save the file as "
        'UTF-8 (in Excel, "CSV UTF-8") and run again'
    )


def _open_binary(path: Path):
    """The file's bytes, decompressed for .csv.gz and .csv.bz2."""
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.open(path, "rb")
    if name.endswith(".bz2"):
        import bz2

        return bz2.open(path, "rb")
    return open(path, "rb")


def write_table(table: pa.Table, path: Path | str) -> None:
    """Write a registry data file (Arrow table) as Parquet or CSV, chosen by the file name.

    Values are written exactly as they are, so the file reads back the same: this is for data
    that the toolkit reads again (synthetic registries). Tables meant for people go through
    :func:`write_frame`, which neutralises spreadsheet formulas.
    """
    path = Path(path)
    fmt = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
    else:
        # CSV has no dictionary type: write categoricals as their text.
        plain = pa.table(
            {
                name: col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
                for name, col in zip(table.column_names, table.columns, strict=True)
            }
        )
        pacsv.write_csv(plain, path)


def read_frame(path: Path | str, *, what: str = "input", text: bool = False) -> pd.DataFrame:
    """A small table (grades, plans, rosters, override files) from CSV or Parquet.

    ``text=True`` reads every CSV column as text (codes such as USCCs keep leading zeros).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} file not found: {path}")
    fmt = file_format(path)
    try:
        if fmt == "parquet":
            return pq.read_table(path).to_pandas()
        return pd.read_csv(path, dtype=str if text else None, keep_default_na=True, encoding="utf-8-sig")
    except (OSError, pa.ArrowException, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {what} file {path}: {exc}") from None


def write_frame(frame: pd.DataFrame, path: Path | str) -> None:
    """Write a table meant for people (lists, plans, rejects) as Parquet or CSV, chosen by the file
    name, atomically; CSV cells that a spreadsheet would run as formulas are neutralised."""
    from credit_grading.csvsafe import write_csv
    from credit_grading.storage import atomic_path

    path = Path(path)
    fmt = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False, compression="zstd")
    else:
        write_csv(frame, path)
