"""The USCC check as one compiled pass over the Arrow string buffers (imported on first use)."""

from credit_grading._numba_cache import configure_numba_cache

configure_numba_cache()  # before numba is imported: its kernel cache goes to a private directory

from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def uscc_status(offsets, data, base, valid, lookup, weights, out):  # pragma: no cover - compiled
    # out[i]: 0 ok, 2 bad length, 3 bad charset, 4 bad check (1, missing, is set by the caller).
    for i in range(out.shape[0]):
        if not valid[i]:
            continue
        s = offsets[i] - base
        e = offsets[i + 1] - base
        high = False
        for p in range(s, e):
            if data[p] >= 0x80:
                high = True
                break
        if high:  # a multi-byte character: 18 characters is a bad character, otherwise a bad length
            chars = 0
            for p in range(s, e):
                if (data[p] & 0xC0) != 0x80:
                    chars += 1
            out[i] = 3 if chars == 18 else 2
            continue
        if e - s != 18:
            out[i] = 2
            continue
        total = 0
        bad = False
        for p in range(17):
            v = lookup[data[s + p]]
            if v < 0:
                bad = True
                break
            total += v * weights[p]
        last = lookup[data[s + 17]]
        if bad or last < 0:
            out[i] = 3
            continue
        if (31 - total % 31) % 31 != last:
            out[i] = 4
