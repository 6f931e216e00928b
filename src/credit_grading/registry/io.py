"""Reading registry files (CSV or Parquet) into Arrow tables, with table-level checks.

Only table-level problems are raised here (unreadable file, unknown format, missing
required columns); each names every problem at once. Row-level problems are the business
of :mod:`credit_grading.registry.validate`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from credit_grading.exceptions import DataError, SchemaError
from credit_grading.registry.schema import RegistrySchema

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
        opener = {".gz": "gzip", ".bz2": "bz2"}.get(path.suffix)
        if opener:
            import importlib

            fh = importlib.import_module(opener).open(path, "rt", encoding="utf-8-sig", newline="")
        else:
            fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
        with fh:
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
    read with their contract types; if a value does not convert, the file is read again
    with every column as text so that validation can name each bad value.
    """
    path = Path(path)
    columns = read_columns(path)
    ignored = check_columns(columns, schema, str(path))
    missing_extra = [c for c in extra if c not in columns]
    if missing_extra:
        raise SchemaError(f"{path} has no column(s) {', '.join(missing_extra)} to pass through")
    wanted = [c for c in schema.known_columns if c in columns] + [c for c in extra if c not in schema.known_columns]
    fmt = file_format(path)
    try:
        table = pq.read_table(path, columns=wanted) if fmt == "parquet" else _read_csv(path, schema, wanted)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path} as {fmt}: {exc}") from None
    return table, ignored


def _read_csv(path: Path, schema: RegistrySchema, wanted: list[str]) -> pa.Table:
    read_opts = pacsv.ReadOptions(block_size=1 << 24)
    known = set(schema.known_columns)
    typed = {c: schema.csv_read_type(c) for c in wanted if c in known}
    try:
        convert = pacsv.ConvertOptions(column_types=typed, include_columns=wanted, strings_can_be_null=True)
        return pacsv.read_csv(path, read_options=read_opts, convert_options=convert)
    except pa.ArrowInvalid:
        # Some value does not convert: read everything as text; validation names it.
        as_text = {c: pa.string() for c in wanted if c in known}
        convert = pacsv.ConvertOptions(column_types=as_text, include_columns=wanted, strings_can_be_null=True)
        return pacsv.read_csv(path, read_options=read_opts, convert_options=convert)


def write_table(table: pa.Table, path: Path | str) -> None:
    """Write an Arrow table as Parquet or CSV, chosen by the file name."""
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
    """Write a pandas table as Parquet or CSV (UTF-8), chosen by the file name."""
    path = Path(path)
    fmt = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.to_parquet(path, index=False, compression="zstd")
    else:
        frame.to_csv(path, index=False, encoding="utf-8")
