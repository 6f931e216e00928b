"""The one normal form of a row's key (entity id, snapshot day), shared by validation and by the
duplicate pre-pass of batch rescoring (:mod:`credit_grading.batch.keys`).

Two rows have the same key exactly when their normal forms are equal:

- the id as text (dictionary decoded, binary read as text, bytes that are not UTF-8 written as
  ``\\xNN`` escapes, integer ids written in decimal where the id format allows them); a
  ``uscc`` id is taken as given — a code with spaces around it is not a valid code — and an
  ``any`` id is trimmed of white space;
- the snapshot date as a day number (days since 1970-01-01): ``"2025-12-31"``,
  ``" 2025-12-31 "``, a Parquet date and a timestamp at any time of that day are one day.

    >>> import pyarrow as pa
    >>> date_days(pa.array(["2025-12-31", " 2025-12-31 ", "2025-02-30", None]))[0].tolist()
    [20453, 20453, -2147483648, -2147483648]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.config import IdFormat
from credit_grading.registry.text import as_string, blank, escape_invalid, invalid_utf8, is_text_type
from credit_grading.registry.uscc import UsccStatus, check_uscc

NO_DATE = np.iinfo(np.int32).min  # the day number of a missing or invalid date


def normal_ids(ids: pa.Array | pa.ChunkedArray, id_format: IdFormat) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """The ids in normal form, the mask of missing ids (null, blank or a null word) and the mask
    of ids whose bytes are not UTF-8 (written as escapes in the normal form)."""
    ids = as_string(ids)
    bad = invalid_utf8(ids)
    if bad is not None:
        ids = escape_invalid(ids, bad)
    else:
        bad = np.zeros(len(ids), dtype=bool)
    if id_format != IdFormat.USCC:
        ids = pc.utf8_trim_whitespace(ids)
    return ids, blank(ids), bad


def id_status(ids: pa.Array, missing: np.ndarray, bad_bytes: np.ndarray, id_format: IdFormat) -> np.ndarray | None:
    """For ``uscc`` ids, the :class:`~credit_grading.registry.uscc.UsccStatus` of each normal-form
    id (missing and undecodable ids count as missing); ``None`` for ``any`` ids."""
    if id_format != IdFormat.USCC:
        return None
    status = check_uscc(ids)
    status[missing | bad_bytes] = UsccStatus.MISSING
    return status


def normal_key_batch(batch: pa.RecordBatch, id_column: str, as_of_column: str | None, id_format: IdFormat):
    """The key columns of ``batch`` in normal form: the id as text, null where validation rejects
    it (missing, not UTF-8, not a valid code), and the snapshot day as date32, null where not a date."""
    ids, missing, bad_bytes = normal_ids(batch.column(id_column), id_format)
    status = id_status(ids, missing, bad_bytes, id_format)
    reject = missing | bad_bytes if status is None else status != UsccStatus.OK
    arrays = [pc.if_else(pa.array(reject), pa.scalar(None, ids.type), ids)]
    names = [id_column]
    if as_of_column is not None and as_of_column in batch.schema.names:
        parsed = date_days(batch.column(as_of_column))
        days = parsed[0] if parsed is not None else np.full(batch.num_rows, NO_DATE, dtype=np.int32)
        arrays.append(pa.array(days, type=pa.int32(), mask=days == NO_DATE).cast(pa.date32()))
        names.append(as_of_column)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def date_days(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """Day numbers (int32, :data:`NO_DATE` for missing or invalid) and the mask of values given
    but not dates; ``None`` when the array's type cannot hold dates.

    Text must read ``YYYY-MM-DD`` (white space around it allowed) and name a real day; dates and
    timestamps give their day (a timestamp with a time zone, its day in that zone).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.dictionary_decode(), t.value_type
    n = len(arr)
    if pa.types.is_null(t):
        return np.full(n, NO_DATE, dtype=np.int32), np.zeros(n, dtype=bool)
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        days = pc.cast(pc.cast(arr, pa.date32()), pa.int32())
        return days.fill_null(NO_DATE).to_numpy(zero_copy_only=False), np.zeros(n, dtype=bool)
    if not is_text_type(t):
        return None
    text = as_string(arr)
    bad_bytes = invalid_utf8(text)
    if bad_bytes is not None:
        text = pc.if_else(pa.array(bad_bytes), pa.scalar(None, text.type), text)
    # A registry holds few distinct dates per column (one snapshot date, a few thousand days of
    # establishment): parse each distinct text once.
    encoded = pc.dictionary_encode(text)
    values = encoded.dictionary
    trimmed = pc.utf8_trim_whitespace(values)
    given_values = ~blank(trimmed)
    parsed = pc.strptime(trimmed, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls impossible days over (2025-02-30 -> 2025-03-02): insist on a round trip.
    exact = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), trimmed)
    parsed = pc.if_else(exact, parsed, pa.scalar(None, parsed.type))
    value_days = pc.cast(pc.cast(parsed, pa.date32()), pa.int32()).fill_null(NO_DATE).to_numpy(zero_copy_only=False)
    idx = encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
    days = np.append(value_days, np.int32(NO_DATE))[idx]
    given = np.append(given_values, False)[idx]
    if bad_bytes is not None:
        given |= bad_bytes
    return days, given & (days == NO_DATE)
