"""Unified social credit codes (统一社会信用代码, GB 32100-2015), checked and made in bulk.

Layout of the 18 characters: registration authority (1) + entity type (1) + administrative
division (6) + organisation code (9, itself ending in a GB 11714 check character) + check
character (1). The alphabet has 31 symbols (no I, O, S, V, Z); the weight of position i
(1-based, 1..17) is 3^(i-1) mod 31, and the check value is (31 - Σ value·weight mod 31) mod 31.

    >>> if is_valid_uscc("91350100M000100Y43"):
    ...     print("valid")
    valid
    >>> uscc_check_char("91350100M000100Y4")
    '3'
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
USCC_LENGTH = 18

# Byte value -> symbol value (0..30), -1 for a byte outside the alphabet.
_LOOKUP = np.full(256, -1, dtype=np.int16)
for _v, _c in enumerate(ALPHABET):
    _LOOKUP[ord(_c)] = _v
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)

# GB 11714 organisation code: 8 body characters (digits and capital letters, A=10 … Z=35),
# weights below, check = 11 − Σ mod 11, where 10 is written "X" and 11 is written "0".
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


class UsccStatus(IntEnum):
    """Outcome of checking one code; the names are the rejection reason codes."""

    OK = 0
    MISSING = 1
    BAD_LENGTH = 2
    BAD_CHARSET = 3
    BAD_CHECK = 4


REASON_CODES = {
    UsccStatus.MISSING: "uscc_missing",
    UsccStatus.BAD_LENGTH: "uscc_length",
    UsccStatus.BAD_CHARSET: "uscc_charset",
    UsccStatus.BAD_CHECK: "uscc_check_digit",
}


def uscc_check_char(body: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(body) != 17:
        raise ValueError(f"a USCC body has 17 characters, got {len(body)} in {body!r}")
    try:
        values = [ALPHABET.index(c) for c in body]
    except ValueError:
        bad = next(c for c in body if c not in ALPHABET)
        raise ValueError(f"character {bad!r} in {body!r} is not in the USCC alphabet {ALPHABET}") from None
    total = int(np.dot(values, WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: object) -> bool:
    """Whether ``code`` is a well-formed USCC with a correct check character."""
    return bool(check_uscc(pa.array([code], type=pa.string()))[0] == UsccStatus.OK)


def org_code_check_char(body: str) -> str:
    """GB 11714 check character of an 8-character organisation-code body."""
    vals = [int(c, 36) for c in body]
    r = 11 - int(np.dot(vals, _ORG_WEIGHTS)) % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def _as_string_array(values: object) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(np.asarray(values, dtype=object), type=pa.string(), from_pandas=True)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    return values


def check_uscc(values: object) -> np.ndarray:
    """Check many codes at once; returns a :class:`UsccStatus` value per row (uint8).

    ``values`` may be a pyarrow array, a numpy array or any sequence of strings. One compiled
    pass over the Arrow buffers checks each code's length, characters and check character
    (``registry/_uscc_nb.py``).
    """
    arr = _as_string_array(values)
    n = len(arr)
    status = np.zeros(n, dtype=np.uint8)
    valid = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    status[~valid] = UsccStatus.MISSING
    if n == 0:
        return status
    from credit_grading.registry._uscc_nb import uscc_status

    offsets_dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offsets_dtype)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    base = int(offsets[0])
    uscc_status(offsets, data[base : int(offsets[-1])], base, valid, _LOOKUP, WEIGHTS, status)
    return status


def make_usccs(
    authority: np.ndarray | str,
    entity_type: np.ndarray | str,
    division: np.ndarray,
    rng: np.random.Generator,
    new_style: np.ndarray | None = None,
) -> pa.Array:
    """Make valid, pairwise distinct codes in bulk.

    ``division`` holds 6-digit division codes; ``authority`` and ``entity_type`` are single
    characters per row or one for all. The organisation code is either 8 digits (codes
    converted from pre-2015 organisation codes) or, where ``new_style`` is true, ``MA``
    followed by 6 symbols of the USCC alphabet (codes issued since 2015); its ninth
    character is the GB 11714 check and the last character of the whole code the GB 32100
    check. Organisation numbers are drawn without replacement, so no two rows share a code.
    Returns a pyarrow string array built straight from the byte matrix.
    """
    division = np.asarray(division, dtype="S6")
    n = division.shape[0]
    new_style = np.zeros(n, dtype=bool) if new_style is None else np.asarray(new_style, dtype=bool)
    body = np.empty((n, 17), dtype=np.uint8)
    body[:, 0] = np.frombuffer(np.broadcast_to(np.asarray(authority, dtype="S1"), (n,)).tobytes(), np.uint8)
    body[:, 1] = np.frombuffer(np.broadcast_to(np.asarray(entity_type, dtype="S1"), (n,)).tobytes(), np.uint8)
    body[:, 2:8] = np.frombuffer(division.tobytes(), dtype=np.uint8).reshape(n, 6)
    org = np.empty((n, 8), dtype=np.uint8)
    old_rows, new_rows = np.flatnonzero(~new_style), np.flatnonzero(new_style)
    if old_rows.size:
        u = rng.choice(10**8, size=old_rows.size, replace=False)
        digits = (u[:, None] // 10 ** np.arange(7, -1, -1)) % 10
        org[old_rows] = _ALPHABET_BYTES[digits]
    if new_rows.size:
        u = rng.choice(31**6, size=new_rows.size, replace=False)
        symbols = (u[:, None] // 31 ** np.arange(5, -1, -1)) % 31
        org[new_rows, 0] = ord("M")
        org[new_rows, 1] = ord("A")
        org[new_rows, 2:] = _ALPHABET_BYTES[symbols]
    # GB 11714 reads letters as A=10 … Z=35, which differs from the USCC symbol values.
    gb_vals = np.where(org >= ord("A"), org.astype(np.int64) - ord("A") + 10, org.astype(np.int64) - ord("0"))
    r = 11 - (gb_vals @ _ORG_WEIGHTS) % 11
    body[:, 8:16] = org
    body[:, 16] = np.where(r == 10, ord("X"), np.where(r == 11, ord("0"), ord("0") + r))
    vals = _LOOKUP[body].astype(np.int64)
    check = (31 - (vals @ WEIGHTS) % 31) % 31
    full = np.empty((n, 18), dtype=np.uint8)
    full[:, :17] = body
    full[:, 17] = _ALPHABET_BYTES[check]
    offsets = np.arange(0, USCC_LENGTH * n + 1, USCC_LENGTH, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(full.tobytes())])
