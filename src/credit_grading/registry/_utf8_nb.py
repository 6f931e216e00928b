"""Which strings of an Arrow string array are not valid UTF-8: one compiled pass over its buffers."""

from credit_grading._numba_cache import configure_numba_cache

configure_numba_cache()  # before numba is imported: its compiled kernels are cached in a private folder

from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def invalid_utf8(offsets, data, base, out):  # pragma: no cover - compiled
    # out[i] = True where string i is not well-formed UTF-8 (RFC 3629: no overlong forms, no
    # surrogates, nothing above U+10FFFF), the same rule Arrow's own validation applies.
    for i in range(out.shape[0]):
        p = offsets[i] - base
        e = offsets[i + 1] - base
        while p < e:
            b = data[p]
            if b < 0x80:
                p += 1
                continue
            if 0xC2 <= b <= 0xDF:
                n, lo, hi = 1, 0x80, 0xBF
            elif b == 0xE0:
                n, lo, hi = 2, 0xA0, 0xBF
            elif 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
                n, lo, hi = 2, 0x80, 0xBF
            elif b == 0xED:
                n, lo, hi = 2, 0x80, 0x9F
            elif b == 0xF0:
                n, lo, hi = 3, 0x90, 0xBF
            elif 0xF1 <= b <= 0xF3:
                n, lo, hi = 3, 0x80, 0xBF
            elif b == 0xF4:
                n, lo, hi = 3, 0x80, 0x8F
            else:
                out[i] = True
                break
            if p + n >= e:  # the sequence runs past the end of the string
                out[i] = True
                break
            second = data[p + 1]
            if second < lo or second > hi:
                out[i] = True
                break
            ok = True
            for k in range(2, n + 1):
                if (data[p + k] & 0xC0) != 0x80:
                    ok = False
                    break
            if not ok:
                out[i] = True
                break
            p += n + 1
