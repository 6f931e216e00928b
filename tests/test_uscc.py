import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_grading.registry.uscc import (
    ALPHABET,
    UsccStatus,
    check_uscc,
    is_valid_uscc,
    make_usccs,
    org_code_check_char,
    uscc_check_char,
)


def test_worked_example_of_the_standard():
    assert is_valid_uscc("91350100M000100Y43")
    assert uscc_check_char("91350100M000100Y4") == "3"
    # The organisation code inside it carries a valid GB 11714 check character.
    assert org_code_check_char("M000100Y") == "4"


def test_weights_are_powers_of_three_mod_31():
    from credit_grading.registry.uscc import WEIGHTS

    assert WEIGHTS.tolist() == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def test_each_status_is_reported():
    codes = [
        "91350100M000100Y43",  # ok
        None,  # missing
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19 characters
        "91350100M0001O0Y43",  # letter O is not in the alphabet
        "91350100m000100Y43",  # lower case
        "91350100M000100Y4中",  # 18 characters, one multi-byte
        "91350100M000100Y44",  # wrong check character
    ]
    got = check_uscc(codes).tolist()
    assert got == [
        UsccStatus.OK,
        UsccStatus.MISSING,
        UsccStatus.BAD_LENGTH,
        UsccStatus.BAD_LENGTH,
        UsccStatus.BAD_CHARSET,
        UsccStatus.BAD_CHARSET,
        UsccStatus.BAD_CHARSET,
        UsccStatus.BAD_CHECK,
    ]


def test_large_string_and_dictionary_and_sliced_arrays():
    good, bad = "91350100M000100Y43", "91350100M000100Y44"
    arr = pa.array([bad, good, bad, good], type=pa.large_string())
    assert check_uscc(arr).tolist() == [4, 0, 4, 0]
    assert check_uscc(arr.slice(1, 2)).tolist() == [0, 4]
    assert check_uscc(pa.array([good, bad]).dictionary_encode()).tolist() == [0, 4]


body = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


@settings(max_examples=300)
@given(body)
def test_computed_codes_are_valid(b):
    assert is_valid_uscc(b + uscc_check_char(b))


@settings(max_examples=300)
@given(body, st.integers(0, 17), st.integers(1, 30))
def test_any_single_substitution_is_detected(b, pos, shift):
    code = b + uscc_check_char(b)
    changed = ALPHABET[(ALPHABET.index(code[pos]) + shift) % 31]
    mutated = code[:pos] + changed + code[pos + 1 :]
    assert check_uscc([mutated])[0] == UsccStatus.BAD_CHECK


def test_made_codes_are_valid_distinct_and_well_formed():
    rng = np.random.default_rng(3)
    n = 50_000
    division = np.array(["110105", "110108"] * (n // 2), dtype="S6")
    codes = make_usccs("9", "1", division, rng, new_style=rng.random(n) < 0.5)
    assert (check_uscc(codes) == 0).all()
    values = codes.to_pylist()
    assert len(set(values)) == n
    assert all(c[2:8] in ("110105", "110108") for c in values[:100])
    # The embedded organisation codes carry valid GB 11714 check characters.
    assert all(org_code_check_char(c[8:16]) == c[16] for c in values[:2000])
    assert sum(c[8:10] == "MA" for c in values) == pytest.approx(n / 2, rel=0.05)


def test_bad_body_is_a_clear_error():
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_char("123")
    with pytest.raises(ValueError, match="'I' .* not in the USCC alphabet"):
        uscc_check_char("9135010IM000100Y4")
