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
    """Codes (int16, -1 for null) of Arrow strings (an array, or a list of chunks) into their
    distinct strings, listed in order of first appearance — what
    ``pyarrow.compute.dictionary_encode`` gives, several times faster for a column of few
    levels, and chunk by chunk (the chunks are never concatenated). ``None`` when the column
    has more than ``MAX_TEXT_LEVELS`` distinct strings (encode it with pyarrow then)."""
    import pyarrow as pa

    chunks = [array] if isinstance(array, pa.Array) else list(array)
    n = sum(len(c) for c in chunks)
    codes = np.empty(n, dtype=np.int16)  # MAX_TEXT_LEVELS fit
    kernels = compiled()
    table = np.full(1 << kernels.TEXT_TABLE_BITS, -1, dtype=np.int64)
    lv_head = np.empty(MAX_TEXT_LEVELS, dtype=np.uint64)
    lv_tail = np.empty(MAX_TEXT_LEVELS, dtype=np.uint64)
    lv_s = np.empty(MAX_TEXT_LEVELS, dtype=np.int64)
    lv_n = np.empty(MAX_TEXT_LEVELS, dtype=np.int64)
    lv_bytes = np.zeros(1 << 16, dtype=np.uint8)
    used = np.zeros(2, dtype=np.int64)
    kernel, row0 = kernels.encode_text, 0
    for chunk in chunks:
        rows = len(chunk)
        if rows == 0:
            continue
        bufs = chunk.buffers()
        wide = pa.types.is_large_string(chunk.type)
        offsets = np.frombuffer(bufs[1], dtype=np.int64 if wide else np.int32)[chunk.offset : chunk.offset + rows + 1]
        end = int(offsets[-1])
        if bufs[2] is not None and bufs[2].size >= end + 8:  # eight bytes readable past the last string
            data = np.frombuffer(bufs[2], dtype=np.uint8)
        else:  # padded copy of the bytes the rows use
            base = int(offsets[0])
            data = np.zeros(end - base + 8, dtype=np.uint8)
            if end > base:
                data[: end - base] = np.frombuffer(bufs[2], dtype=np.uint8)[base:end]
            offsets = offsets - base
        if chunk.null_count:
            bitmap, bit0 = np.frombuffer(bufs[0], dtype=np.uint8), chunk.offset
        else:
            bitmap, bit0 = np.zeros(0, dtype=np.uint8), 0
        ok = kernel(offsets, data, bitmap, bit0, codes[row0 : row0 + rows], table,
                    lv_head, lv_tail, lv_s, lv_n, lv_bytes, used)  # fmt: skip
        if not ok:
            return None
        row0 += rows
    levels = [
        lv_bytes[s : s + m].tobytes().decode("utf-8") for s, m in zip(lv_s[: used[0]], lv_n[: used[0]], strict=True)
    ]
    return codes, levels


def numeric_points_add(x, missing, splits, specials, lut, total, first: bool) -> None:
    """Add a numeric feature's points into ``total`` (assign when ``first``)."""
    x, missing = _prepare(x, missing)
    compiled().numeric_points_add(x, missing, splits, specials, lut, total, first)


def level_points_add(codes, lut, total, first: bool) -> None:
    """Add a categorical feature's points (``lut`` by level code, -1 the last entry) into ``total``."""
    compiled().level_points_add(codes, lut, total, first)
