"""Compiled kernels of the scoring core (numba, compiled on first use, cached on disk).

Why numba: it compiles these small loops to machine code on every platform numpy runs on,
ships as ordinary wheels (no compiler needed at install time), and its on-disk cache makes
the one-time compilation (about a second per kernel and input type) a first-run cost only.
The kernels release the GIL, so the engine's worker threads run them in parallel. numba is
imported only when a kernel is first needed, so importing the package stays light.

Each kernel makes one pass over the rows of one feature (no per-bin masks): a value's bin
is the number of the feature's sorted splits it reaches, counted without branches, which
follows optbinning's rule ``splits[i-1] <= x < splits[i]`` (±inf go to the outer bins);
then a special code or a missing value (NaN, or a null in the mask) takes its own slot.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def compiled():
    """The kernels' module, ``_kernels_nb`` (importing it imports numba: first use only)."""
    from credit_grading.engine import _kernels_nb

    return _kernels_nb


_NO_MASK = np.zeros(0, dtype=np.bool_)


def _prepare(x: np.ndarray, missing: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    if x.dtype.kind == "b":
        x = x.view(np.uint8)
    elif x.dtype.kind not in "iuf":
        x = x.astype(np.float64)
    return x, (_NO_MASK if missing is None else np.asarray(missing, dtype=np.bool_))


def numeric_slots_into(x, missing, splits, specials, out) -> None:
    x, missing = _prepare(x, missing)
    compiled().numeric_slots(x, missing, splits, specials, out)


def numeric_points_into(x, missing, splits, specials, lut, out) -> None:
    x, missing = _prepare(x, missing)
    compiled().numeric_points(x, missing, splits, specials, lut, out)


def top_k_into(values, offsets, sign, k, out_idx, out_val) -> None:
    compiled().top_k(values, np.ascontiguousarray(offsets, dtype=np.float64), float(sign), k, out_idx, out_val)


def hash_strings_into(offsets: np.ndarray, data: np.ndarray, base: int, weights: np.ndarray, out: np.ndarray) -> None:
    """64-bit hashes of Arrow strings given their offsets and data buffer (see batch.previous)."""
    compiled().hash_strings(offsets, data, np.int64(base), weights, out)


MAX_TEXT_LEVELS = 256


def encode_text(array) -> tuple[np.ndarray, list[str]] | None:
    """Codes (int16, -1 for null) of an Arrow string array into its distinct strings, listed
    in order of first appearance — what ``pyarrow.compute.dictionary_encode`` gives, several
    times faster for a column of few levels. ``None`` when the column has more than
    ``MAX_TEXT_LEVELS`` distinct strings (encode it with pyarrow then)."""
    import pyarrow as pa

    n = len(array)
    bufs = array.buffers()
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[array.offset : array.offset + n + 1]
    codes = np.empty(n, dtype=np.int16)  # MAX_TEXT_LEVELS fit
    if n == 0:
        return codes, []
    base, end = int(offsets[0]), int(offsets[-1])
    words = np.zeros((end - base + 7) // 8 + 2, dtype=np.uint64)  # padded: whole words past the end
    if end > base:
        words.view(np.uint8)[: end - base] = np.frombuffer(bufs[2], dtype=np.uint8)[base:end]
    if array.null_count:
        bitmap, bit0 = np.frombuffer(bufs[0], dtype=np.uint8), array.offset
    else:
        bitmap, bit0 = np.zeros(0, dtype=np.uint8), 0
    first = compiled().encode_text(offsets, base, words, bitmap, bit0, codes, MAX_TEXT_LEVELS)
    if first.size == 0 and array.null_count < n:
        return None
    return codes, array.take(pa.array(first)).to_pylist()


def numeric_points_add(x, missing, splits, specials, lut, total, first: bool) -> None:
    """Add a numeric feature's points into ``total`` (assign when ``first``)."""
    x, missing = _prepare(x, missing)
    compiled().numeric_points_add(x, missing, splits, specials, lut, total, first)


def level_points_add(codes, lut, total, first: bool) -> None:
    """Add a categorical feature's points (``lut`` by level code, -1 the last entry) into ``total``."""
    compiled().level_points_add(codes, lut, total, first)
