"""The statistics, checked against independent computations on known data."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest, norm

from promptloop.analytics.stats import difference, holm, sample_size_per_group, wilson


def _wilson_by_hand(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (12, 100), (121, 1000), (50, 50)])
def test_wilson_matches_the_formula_and_scipy(k: int, n: int) -> None:
    rate = wilson(k, n)
    low, high = _wilson_by_hand(k, n)
    assert rate.low == pytest.approx(low, abs=1e-9) and rate.high == pytest.approx(high, abs=1e-9)
    scipy_ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert rate.low == pytest.approx(scipy_ci.low, abs=1e-9)
    assert rate.high == pytest.approx(scipy_ci.high, abs=1e-9)
    assert wilson(0, 0).rate is None


def test_two_proportion_z_test_matches_the_textbook() -> None:
    result = difference(121, 1000, 80, 1000)
    pooled = (121 + 80) / 2000
    se = math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1000))
    z = (0.080 - 0.121) / se
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert result.diff == pytest.approx(-0.041)
    # Newcombe's hybrid score interval from the two Wilson intervals.
    la, ua = _wilson_by_hand(121, 1000)
    lb, ub = _wilson_by_hand(80, 1000)
    d = 0.080 - 0.121
    low = d - math.sqrt((0.080 - lb) ** 2 + (ua - 0.121) ** 2)
    high = d + math.sqrt((ub - 0.080) ** 2 + (0.121 - la) ** 2)
    assert result.low == pytest.approx(low, abs=1e-9)
    assert result.high == pytest.approx(high, abs=1e-9)


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = [0.001, 0.2, 0.04, 0.03, 0.5, 0.011, 0.04]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))


def test_holm_step_down() -> None:
    # Sorted p: 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06; back in input order.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []


def test_sample_size_matches_the_arcsine_formula() -> None:
    # Var(2 asin sqrt(p_hat)) ~ 1/n, so a difference of two groups of n has variance 2/n.
    h = abs(2 * math.asin(math.sqrt(0.08)) - 2 * math.asin(math.sqrt(0.121)))
    expected = 2 * ((norm.ppf(0.975) + norm.ppf(0.8)) / h) ** 2
    assert sample_size_per_group(0.121, 0.08) == math.ceil(expected)
    assert sample_size_per_group(0.1, 0.1) is None
