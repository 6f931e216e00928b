"""The statistical tests of the rating system against hand-computed cases and scipy."""

import math

import numpy as np
import pytest
from scipy import special, stats

from credit_grading.stats import binomial_pvalue, hhi, jeffreys_pvalue, two_proportion_pvalue


def test_jeffreys_with_no_data_is_the_arcsine_law():
    # Beta(1/2, 1/2) has cdf (2/π)·asin(√p).
    for p in (0.01, 0.2, 0.5):
        assert jeffreys_pvalue(0, 0, p) == pytest.approx(2 / math.pi * math.asin(math.sqrt(p)), rel=1e-12)


def test_jeffreys_matches_the_regularised_incomplete_beta():
    d, n, p = np.array([0, 3, 40, 12]), np.array([100, 250, 1000, 90]), np.array([0.01, 0.02, 0.05, 0.2])
    expected = special.betainc(d + 0.5, n - d + 0.5, p)
    np.testing.assert_allclose(jeffreys_pvalue(d, n, p), expected, rtol=1e-12)
    # More defaults than the PD implies: a small p-value (PD too low).
    assert jeffreys_pvalue(40, 1000, 0.02) < 1e-4
    assert jeffreys_pvalue(5, 1000, 0.02) > 0.99


def test_binomial_matches_scipy_binomtest():
    for d, n, p in ((7, 200, 0.02), (0, 50, 0.1), (30, 300, 0.05)):
        expected = stats.binomtest(d, n, p, alternative="greater").pvalue
        assert binomial_pvalue(d, n, p) == pytest.approx(expected, rel=1e-10)


def test_two_proportion_by_hand():
    # 10/1000 against 30/1000: pooled 0.02, se = sqrt(0.02·0.98·0.002), z = 0.02 / se.
    se = math.sqrt(0.02 * 0.98 * (2 / 1000))
    z = 0.02 / se
    assert two_proportion_pvalue(10, 1000, 30, 1000) == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)), rel=1e-10)
    assert two_proportion_pvalue(30, 1000, 10, 1000) > 0.99  # the worse group is not worse
    assert two_proportion_pvalue(0, 100, 0, 100) == 1.0  # no bads anywhere: nothing to tell apart
    assert two_proportion_pvalue(0, 0, 5, 100) == 1.0  # an empty group


def test_hhi():
    assert hhi([25, 25, 25, 25]) == pytest.approx(0.25)
    assert hhi([10, 0, 0]) == 1.0
    assert hhi([30, 10]) == pytest.approx(0.75**2 + 0.25**2)
    assert math.isnan(hhi([0, 0]))


def test_rank_moves_by_hand():
    from credit_grading.stats import rank_moves

    # rows: before (A, B, C), columns: after. Upgrades below the diagonal, downgrades above.
    m = [[5, 2, 1], [3, 4, 0], [0, 6, 7]]
    got = rank_moves(m)
    assert (got["upgrades"], got["downgrades"], got["unchanged"]) == (9, 3, 16)
    assert got["upgrade_rate"] == pytest.approx(9 / 28) and got["downgrade_rate"] == pytest.approx(3 / 28)
    assert rank_moves([[0, 0], [0, 0]])["upgrade_rate"] is None
