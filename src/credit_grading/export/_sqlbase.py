"""SQL building blocks shared by the export's parts: dialects, literals, identifiers, inputs.

Inputs are normalised once, in the innermost ``SELECT``: a numeric column becomes a double with
NULL for missing (DuckDB's and PostgreSQL's ``NaN`` becomes NULL too, as the engine reads NaN as
missing; SQLite stores a NaN as NULL already), a categorical column becomes text. Every later
step reads only these normalised columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from credit_grading.exceptions import ConfigError

DIALECTS = ("sqlite", "duckdb", "postgres", "ansi")


@dataclass(frozen=True)
class Dialect:
    name: str
    double: str  # the double type in CAST
    text: str  # the text type in CAST
    nan_is_null: bool  # the type has a NaN that must read as missing
    typed_literals: bool  # float literals need a CAST to double (else they are exact numerics)
    fence: str  # ends a nested SELECT so the planner does not inline it (copying its expressions)
    greatest: str | None  # the many-argument maximum (None: the dialect has none)
    arrays: bool = False  # constant arrays indexed per row (a lookup table instead of a CASE)

    def lookup(self, values: list[str], index: str) -> str:
        """The ``index``-th (0-based) of ``values``: an array element where the dialect has arrays."""
        return f"(ARRAY[{', '.join(values)}])[{index} + 1]"

    def num(self, value: float) -> str:
        """A double literal that parses back to exactly ``value`` (finite only)."""
        v = float(value)
        if not math.isfinite(v):
            raise ConfigError(f"cannot write the non-finite number {v!r} into SQL")
        text = repr(v)
        if "e" not in text:
            text += "e0"  # exponent form: a DOUBLE in DuckDB (a plain decimal would be a DECIMAL)
        return f"CAST({text} AS {self.double})" if self.typed_literals else text

    def str_(self, value: str) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    def numeric_input(self, column: str) -> str:
        cast = f"CAST({ident(column)} AS {self.double})"
        if self.name == "sqlite":  # SQLite casts an empty text (a CSV's missing value) to 0.0: keep it missing
            return f"CAST(NULLIF({ident(column)}, '') AS {self.double})"
        if self.nan_is_null:
            return f"NULLIF({cast}, CAST('NaN' AS {self.double}))"
        return cast

    def years_between(self, date_column: str, as_of_column: str) -> str:
        """Years from a date column to the as-of date, as the registry derives them: days / 365.25."""
        a, b = ident(as_of_column), ident(date_column)
        if self.name == "sqlite":
            days = f"(julianday({a}) - julianday({b}))"
        else:
            days = f"CAST(CAST({a} AS DATE) - CAST({b} AS DATE) AS {self.double})"
            if self.name == "duckdb":
                days = f"CAST(date_diff('day', CAST({b} AS DATE), CAST({a} AS DATE)) AS DOUBLE)"
        return f"({days} / {self.num(365.25)})"

    def text_input(self, column: str) -> str:
        return f"CAST({ident(column)} AS {self.text})"


_DIALECTS = {
    "sqlite": Dialect(
        "sqlite", "REAL", "TEXT", nan_is_null=False, typed_literals=False, fence="LIMIT -1 OFFSET 0", greatest="max"
    ),
    "duckdb": Dialect(
        "duckdb",
        "DOUBLE",
        "VARCHAR",
        nan_is_null=True,
        typed_literals=False,
        fence="",
        greatest="GREATEST",
        arrays=True,
    ),
    "postgres": Dialect(
        "postgres",
        "DOUBLE PRECISION",
        "TEXT",
        nan_is_null=True,
        typed_literals=True,
        fence="OFFSET 0",
        greatest="GREATEST",
    ),
    "ansi": Dialect(
        "ansi",
        "DOUBLE PRECISION",
        "VARCHAR(1000)",
        nan_is_null=False,
        typed_literals=True,
        fence="OFFSET 0 ROWS",
        greatest=None,
    ),
}


def dialect(name: str) -> Dialect:
    try:
        return _DIALECTS[str(name).lower()]
    except KeyError:
        raise ConfigError(f"unknown SQL dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def case(branches: list[tuple[str, str]], default: str | None) -> str:
    """``CASE WHEN c THEN v … ELSE d END`` (just ``d`` when there are no branches)."""
    if not branches:
        return default if default is not None else "NULL"
    body = " ".join(f"WHEN {c} THEN {v}" for c, v in branches)
    return f"CASE {body} ELSE {default if default is not None else 'NULL'} END"


def flag(predicate: str) -> str:
    """A boolean predicate as the integer 0/1 (portable: SQLite, DuckDB, PostgreSQL, ANSI)."""
    return f"CASE WHEN {predicate} THEN 1 ELSE 0 END"


class Layers:
    """Steps of the query as a chain of common table expressions: each step selects every column
    of the one before and adds named columns computed from them. A chain (not nested subqueries)
    keeps the text flat for the parser; the dialect's fence keeps each step from being inlined."""

    def __init__(self, source: str, first: list[tuple[str, str]], fence: str = "") -> None:
        self.fence = f"\n{fence}" if fence else ""
        self.steps = [self._step(source, "src", first)]

    def _step(self, source: str, alias: str, columns: list[tuple[str, str]]) -> str:
        cols = ",\n  ".join([f"{alias}.*", *(f"{e} AS {ident(n)}" for n, e in columns)])
        return f"SELECT {cols}\nFROM {source} AS {alias}{self.fence}"

    def add(self, columns: list[tuple[str, str]]) -> None:
        if columns:
            self.steps.append(self._step(f"_cg_t{len(self.steps) - 1}", "t", columns))

    def final(self, columns: list[tuple[str, str]]) -> str:
        ctes = ",\n".join(f"_cg_t{i} AS (\n{sql}\n)" for i, sql in enumerate(self.steps))
        cols = ",\n  ".join(f"{e} AS {ident(n)}" for n, e in columns)
        return f"WITH {ctes}\nSELECT {cols}\nFROM _cg_t{len(self.steps) - 1} AS t"
