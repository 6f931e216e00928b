"""Uniform, vectorised access to columns of any supported table.

The scoring core and the training code accept a pandas DataFrame, a pyarrow Table or
RecordBatch, or a mapping of column names to numpy arrays. :class:`Columns` gives each
column as a float64 array (numeric features) or as integer codes into a list of distinct
levels (categorical features), so every distinct level is handled once rather than each
row's string. A column of the wrong kind is a :class:`~credit_grading.exceptions.DataError`
naming the column, the first offending row and its value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.exceptions import DataError

Tabular = pd.DataFrame | pa.Table | pa.RecordBatch | Mapping[str, Any]


def _is_arrow_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_arrow_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t)


class Columns:
    """Read-only, column-wise view of a table for vectorised scoring."""

    def __init__(self, data: Tabular) -> None:
        if isinstance(data, pa.Table):
            self._kind = "arrow"
            self._data = data
            self.n_rows = data.num_rows
        elif isinstance(data, pa.RecordBatch):
            self._kind = "arrow"
            self._data = pa.Table.from_batches([data])
            self.n_rows = data.num_rows
        elif isinstance(data, pd.DataFrame):
            self._kind = "pandas"
            self._data = data
            self.n_rows = len(data)
        elif isinstance(data, Mapping):
            self._kind = "dict"
            self._data = {
                k: np.asarray(v) if not isinstance(v, pa.Array | pa.ChunkedArray) else v for k, v in data.items()
            }
            lengths = {len(v) for v in self._data.values()}
            if len(lengths) > 1:
                raise DataError(f"the columns of the input have different lengths: {sorted(lengths)}")
            self.n_rows = lengths.pop() if lengths else 0
        else:
            raise DataError(
                f"cannot score a {type(data).__name__}: give a pandas DataFrame, a pyarrow Table or "
                "RecordBatch, or a mapping of column names to numpy arrays"
            )

    @property
    def names(self) -> list[str]:
        if self._kind == "arrow":
            return list(self._data.column_names)
        return [str(c) for c in (self._data.columns if self._kind == "pandas" else self._data.keys())]

    def require(self, names: Iterable[str]) -> None:
        """Raise one error naming every required column that is absent."""
        have = set(self.names)
        missing = [n for n in names if n not in have]
        if missing:
            raise DataError(f"the input lacks the column(s) the model needs: {', '.join(missing)}")

    def _raw(self, name: str) -> Any:
        if self._kind == "arrow":
            col = self._data.column(name)
            if col.num_chunks == 1:
                return col.chunk(0)
            if pa.types.is_dictionary(col.type):
                col = col.unify_dictionaries()
            return col.combine_chunks()
        return self._data[name]

    def _label(self, pos: int) -> object:
        if self._kind == "pandas":
            return self._data.index[pos]
        return pos

    def _wrong_kind(self, name: str, values: np.ndarray, ok: np.ndarray, expected: str) -> DataError:
        bad = np.flatnonzero(~ok)
        pos = int(bad[0])
        return DataError(
            f"column {name!r} must hold {expected}: row {self._label(pos)} has {values[pos]!r} "
            f"({bad.size:,} such row(s))"
        )

    def numeric(self, name: str) -> np.ndarray:
        """The column as float64 (NaN for missing); integers and booleans are widened."""
        raw = self._raw(name)
        if isinstance(raw, pa.Array):
            t = raw.type
            if pa.types.is_dictionary(t):
                raw, t = raw.dictionary_decode(), t.value_type
            if pa.types.is_null(t):
                return np.full(len(raw), np.nan)
            if not _is_arrow_numeric(t):
                values = raw.to_numpy(zero_copy_only=False)
                ok = pd.isna(values)
                raise self._wrong_kind(name, values, ok, "numbers")
            if pa.types.is_floating(t) and t.bit_width == 64 and raw.null_count == 0:
                return raw.to_numpy(zero_copy_only=False)
            return pc.fill_null(pc.cast(raw, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        if isinstance(raw, pd.Series):
            dtype = raw.dtype
            if isinstance(dtype, pd.CategoricalDtype):
                raw = raw.astype(object)
                dtype = raw.dtype
            if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
                return raw.to_numpy(dtype=np.float64, na_value=np.nan)
            values = raw.to_numpy(dtype=object)
        else:
            values = np.asarray(raw)
            if values.dtype.kind in "fiub":
                return values.astype(np.float64, copy=False)
        coerced = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        ok = ~np.isnan(coerced) | pd.isna(values)
        if not ok.all():
            raise self._wrong_kind(name, values, ok, "numbers")
        return coerced

    def numeric_raw(self, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The column in its own numeric dtype, without a conversion pass where possible,
        and a mask of nulls (``None`` when the values carry no nulls or NaN marks them).

        Arrow integer and float columns are read zero-copy from their data buffer; their
        validity bitmap becomes the mask. Anything else goes through :meth:`numeric`.
        """
        raw = self._raw(name)
        if isinstance(raw, pa.Array) and (pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type)):
            dtype = np.dtype(raw.type.to_pandas_dtype())
            buffers = raw.buffers()
            values = np.frombuffer(buffers[1], dtype=dtype)[raw.offset : raw.offset + len(raw)]
            if raw.null_count == 0:
                return values, None
            bits = np.frombuffer(buffers[0], dtype=np.uint8)
            valid = np.unpackbits(bits, bitorder="little")[raw.offset : raw.offset + len(raw)].view(bool)
            if dtype.kind == "f":
                return np.where(valid, values, np.nan), None
            return values, ~valid
        if isinstance(raw, pd.Series) and isinstance(raw.dtype, np.dtype) and raw.dtype.kind in "iuf":
            return raw.to_numpy(), None
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "iuf":
            return raw, None
        return self.numeric(name), None

    def text_chunks(self, name: str) -> list[pa.Array] | None:
        """The column as Arrow string arrays (its chunks, not copied) when it holds text, read
        without a copy of each value into a Python object: an Arrow string column as it is, a
        pandas string column (``str`` / ``string[pyarrow]``, what ``read_csv`` and
        ``read_parquet`` give) through its Arrow array. ``None`` for anything else (numbers,
        dictionaries and categoricals, object columns)."""
        if self._kind == "arrow":
            col = self._data.column(name)
            return list(col.chunks) if _is_arrow_text(col.type) else None
        raw = self._data[name]
        if isinstance(raw, pd.Series):
            dtype = raw.dtype
            arrow_backed = (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or (
                isinstance(dtype, pd.ArrowDtype) and _is_arrow_text(dtype.pyarrow_dtype)
            )
            if not arrow_backed:
                return None
            raw = pa.array(raw.array)
        if isinstance(raw, pa.ChunkedArray) and _is_arrow_text(raw.type):
            return list(raw.chunks)
        if isinstance(raw, pa.Array) and _is_arrow_text(raw.type):
            return [raw]
        return None

    def text(self, name: str) -> pa.Array | None:
        """The column as one Arrow string array when it holds text (see :meth:`text_chunks`)."""
        chunks = self.text_chunks(name)
        if chunks is None:
            return None
        if len(chunks) == 1:
            return chunks[0]
        return pa.chunked_array(chunks, type=chunks[0].type).combine_chunks() if chunks else None

    def categorical(self, name: str) -> tuple[np.ndarray, list[object]]:
        """The column as integer codes (-1 for missing) into a list of distinct levels."""
        raw = self.text(name)
        if raw is None:
            raw = self._raw(name)
        if isinstance(raw, pa.Array):
            t = raw.type
            if pa.types.is_null(t):
                return np.full(len(raw), -1, dtype=np.int64), []
            if not pa.types.is_dictionary(t):
                if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)):
                    raise DataError(f"column {name!r} must hold category codes (text), not {t}")
                raw = pc.dictionary_encode(raw)
            levels = [None if v is None else str(v) for v in raw.dictionary.to_pylist()]
            codes = pc.fill_null(raw.indices, -1).to_numpy(zero_copy_only=False)
            return codes, levels
        if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.CategoricalDtype):
            return raw.cat.codes.to_numpy(), [str(c) for c in raw.cat.categories]
        values = raw.to_numpy(dtype=object) if isinstance(raw, pd.Series) else np.asarray(raw, dtype=object)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return codes, [str(u) for u in uniques]
