"""CSV that is safe to open in a spreadsheet: formula injection neutralised.

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP, "CSV Injection"). Registry values come from other systems and
objections from the public, so every text cell the project writes to CSV goes through
:func:`neutralise`: a cell starting with one of those characters gets a leading apostrophe,
which spreadsheets show as text. Numbers are written as numbers, so ``-1.5`` in a numeric
column is untouched; only text cells are changed.

Every CSV the project writes goes through :func:`write_csv` (atomic, UTF-8).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_text(value: str) -> str:
    """One text cell made inert.

    >>> neutralise_text("=cmd|' /C calc'!A0"), neutralise_text("-3"), neutralise_text("plain")
    ("'=cmd|' /C calc'!A0", "'-3", 'plain')
    """
    return "'" + value if value[:1] in TRIGGERS else value


def _is_text(series: pd.Series) -> bool:
    return (
        pd.api.types.is_object_dtype(series.dtype)
        or pd.api.types.is_string_dtype(series.dtype)
        or isinstance(series.dtype, pd.CategoricalDtype)
    )


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are made inert; vectorised per column.

    >>> neutralise(pd.DataFrame({"v": ["=1+1", "ok"], "n": [-1.0, 2.0]})).to_dict("list")
    {'v': ["'=1+1", 'ok'], 'n': [-1.0, 2.0]}
    """
    cols = {}
    for pos in range(frame.shape[1]):
        col = frame.iloc[:, pos]
        if _is_text(col):
            if isinstance(col.dtype, pd.CategoricalDtype):
                cats = col.cat.categories
                new = [neutralise_text(c) if isinstance(c, str) else c for c in cats]
                if len(set(new)) == len(new):
                    cols[pos] = col.cat.rename_categories(new)
                    continue
            text = col.astype(object)
            try:
                hit = text.str[:1].isin(TRIGGERS).to_numpy()  # non-text cells give NaN: never a hit
            except AttributeError:  # no text at all in the column (dates, numbers as objects)
                hit = np.zeros(len(text), dtype=bool)
            if hit.any():
                fixed = text.to_numpy(dtype=object, copy=True)
                fixed[hit] = np.char.add("'", fixed[hit].astype(str)).astype(object)
                col = pd.Series(fixed, index=frame.index, dtype=object)
        cols[pos] = col
    out = pd.concat(cols, axis=1) if cols else frame.copy()
    out.columns = [neutralise_text(c) if isinstance(c, str) else c for c in frame.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path | str, *, index: bool = False, encoding: str = "utf-8") -> None:
    """Write ``frame`` as CSV to ``path``, neutralised and atomically."""
    from credit_grading.storage import atomic_path

    with atomic_path(path) as tmp:
        neutralise(frame).to_csv(tmp, index=index, encoding=encoding)


def to_csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame`` as neutralised CSV text (for files assembled in memory, e.g. a bundle's tables)."""
    return neutralise(frame).to_csv(index=index)
