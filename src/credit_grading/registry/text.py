"""Text columns as validation reads them: one string type, blanks, invalid UTF-8, capped values.

Every function here is vectorised over Arrow arrays; Python touches only the rows that are
already broken (invalid UTF-8), never every row.

    >>> import pyarrow as pa
    >>> blank(pa.array(["x", " ", None, "NA", "n/a "])).tolist()
    [False, True, True, True, True]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# The words the CSV reader takes for "no value" in numeric and date columns. Text read from a
# file keeps them as given (so a reject shows what the file said), and validation reads them
# as missing in every column, whatever the file format.
NULL_WORDS: tuple[str, ...] = tuple(pacsv.ConvertOptions().null_values)
_NULL_WORDS = pa.array([w for w in NULL_WORDS if w], type=pa.string())

VALUE_CAP = 200  # characters of a value "as given" kept in a reject; longer ones end in "…"


def is_text_type(t: pa.DataType) -> bool:
    """String or binary (Parquet files written without the UTF-8 annotation hold text as binary)."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)


def as_string(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array of type string (or large_string): chunks combined, dictionaries decoded,
    binary viewed as text (its bytes unchecked: see :func:`invalid_utf8`), other types cast."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    if pa.types.is_binary(t):
        return arr.view(pa.string())
    if pa.types.is_large_binary(t):
        return arr.view(pa.large_string())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return pc.cast(arr, pa.string())
    return arr


def blank(arr: pa.Array) -> np.ndarray:
    """Missing values of a text array: null, empty or white space only, or one of :data:`NULL_WORDS`."""
    trimmed = pc.utf8_trim_whitespace(arr)
    out = pc.or_kleene(pc.equal(trimmed, ""), pc.is_in(trimmed, value_set=_NULL_WORDS))
    return np.asarray(out.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)


def invalid_utf8(arr: pa.Array) -> np.ndarray | None:
    """Mask of the strings that are not valid UTF-8, or ``None`` when all are (the usual case,
    checked by Arrow in one pass; the compiled per-string pass runs only when it fails)."""
    try:
        arr.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    from credit_grading.registry._utf8_nb import invalid_utf8 as kernel

    n = len(arr)
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    _, off_buf, data_buf = arr.buffers()[:3]
    offsets = np.frombuffer(off_buf, dtype=np.int64 if large else np.int32)[arr.offset : arr.offset + n + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    out = np.zeros(n, dtype=bool)
    base = int(offsets[0]) if n else 0
    kernel(offsets, data[base : int(offsets[-1]) if n else 0], base, out)
    out &= ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return out if out.any() else None


def escape_invalid(arr: pa.Array, bad: np.ndarray) -> pa.Array:
    """``arr`` with each string marked in ``bad`` rewritten as valid text: its undecodable
    bytes as ``\\xNN`` escapes (Python touches only those rows)."""
    raw = arr.view(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
    rows = np.flatnonzero(bad)
    fixed = [b.decode("utf-8", "backslashreplace").encode() for b in raw.take(pa.array(rows)).to_pylist()]
    return pc.replace_with_mask(raw, pa.array(bad), pa.array(fixed, raw.type)).view(arr.type)


def cap(arr: pa.Array, limit: int = VALUE_CAP) -> pa.Array:
    """Strings longer than ``limit`` characters cut to ``limit`` followed by "…"."""
    long = pc.greater(pc.utf8_length(arr), limit)
    if not pc.any(long).as_py():
        return arr
    cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(arr, 0, limit), "…", "")
    return pc.if_else(long, cut, arr)
