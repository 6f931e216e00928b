"""The checks of a numeric or flag item as one compiled pass over its Arrow buffers (imported on first use).

Per row: the value as float64 (NaN when missing) and a reason code — 0 valid, 1 ``missing_value``,
2 ``out_of_range``, 3 ``not_integer``, 4 ``invalid_flag`` — exactly as the vectorised checks of
:mod:`credit_grading.registry.validate` decide them (one reason per cell).
"""

from credit_grading._numba_cache import configure_numba_cache

configure_numba_cache()  # before numba is imported: its kernel cache goes to a private directory

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

OK, MISSING, OUT_OF_RANGE, NOT_INTEGER, INVALID_FLAG = 0, 1, 2, 3, 4
_EXACT = 2.0**53


@njit(cache=True, nogil=True)
def check_values(values, bitmap, bit_offset, has_nulls, is_int64, flag, missing_ok, lo, hi, integer, specials, out,
                 codes):  # fmt: skip  # pragma: no cover - compiled
    # Returns the number of whole numbers too large to hold exactly in a float64.
    too_big_count = 0
    for i in range(values.shape[0]):
        if has_nulls:
            j = i + bit_offset
            if (bitmap[j >> 3] >> (j & 7)) & 1 == 0:
                out[i] = np.nan
                if not missing_ok:
                    codes[i] = MISSING
                continue
        x = values[i]
        v = np.float64(x)
        out[i] = v
        if v != v:  # NaN: missing
            if not missing_ok:
                codes[i] = MISSING
            continue
        if flag:
            if v != 0.0 and v != 1.0:
                codes[i] = INVALID_FLAG
            continue
        too_big = False
        if is_int64 and (x > 9007199254740992 or x < -9007199254740992):
            too_big = True
            too_big_count += 1
        oor = too_big or v == np.inf or v == -np.inf or v < lo or v > hi
        if oor and not too_big:
            for s in specials:
                if v == s:
                    oor = False
                    break
        if oor:
            codes[i] = OUT_OF_RANGE
        elif integer and v != np.floor(v):
            codes[i] = NOT_INTEGER
    return too_big_count
