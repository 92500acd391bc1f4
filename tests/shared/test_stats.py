"""Verdict rules of the checks on synthetic per-seed numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from shared.stats import (INCONCLUSIVE, NOT_REPLICATED, REPLICATED, band_verdict, mean_interval,
                          ordering_verdict)

INF = float("inf")


def test_replicated_when_tight_values_lie_inside_the_band():
    verdict, ci = band_verdict(np.array([0.50, 0.51, 0.49, 0.50, 0.52]), 0.4, 0.6)
    assert verdict == REPLICATED
    assert 0.4 <= ci.low <= ci.mean <= ci.high <= 0.6 and ci.n == 5


def test_not_replicated_when_entirely_outside():
    assert band_verdict(np.array([0.90, 0.91, 0.92, 0.90, 0.93]), 0.4, 0.6)[0] == NOT_REPLICATED
    assert band_verdict(np.array([0.10, 0.11, 0.12, 0.10, 0.13]), 0.4, 0.6)[0] == NOT_REPLICATED


def test_inconclusive_when_the_interval_straddles_a_bound():
    verdict, ci = band_verdict(np.array([0.55, 0.65, 0.60, 0.70, 0.50]), 0.4, 0.6)
    assert verdict == INCONCLUSIVE
    assert ci.low < 0.6 < ci.high


def test_inconclusive_below_five_seeds_even_if_far_inside():
    for n in (1, 2, 3, 4):
        verdict, ci = band_verdict(np.full(n, 0.5) + np.arange(n) * 1e-3, 0.0, 1.0)
        assert verdict == INCONCLUSIVE and ci.n == n
    assert band_verdict(np.array([0.5, 0.501, 0.502, 0.5]), 0.0, 1.0, n_min=4)[0] == REPLICATED


def test_one_sided_thresholds_with_infinity():
    high = np.array([0.95, 0.97, 0.96, 0.98, 0.94])
    low = np.array([0.05, 0.03, 0.04, 0.02, 0.06])
    assert band_verdict(high, 0.5, INF)[0] == REPLICATED  # at_least 0.5
    assert band_verdict(low, 0.5, INF)[0] == NOT_REPLICATED
    assert band_verdict(low, -INF, 0.5)[0] == REPLICATED  # at_most 0.5
    assert band_verdict(high, -INF, 0.5)[0] == NOT_REPLICATED
    assert band_verdict(np.array([0.2, 0.8, 0.5, 0.4, 0.6]), 0.5, INF)[0] == INCONCLUSIVE


def test_identical_values_use_the_point():
    ci = mean_interval(np.full(5, 0.7))
    assert (ci.low, ci.high, ci.mean, ci.std) == (0.7, 0.7, 0.7, 0.0)
    assert band_verdict(np.full(5, 0.7), 0.5, INF)[0] == REPLICATED
    assert band_verdict(np.full(5, 1.0), 0.0, 1.0)[0] == REPLICATED  # on the bound counts as inside
    assert band_verdict(np.full(5, 0.3), 0.5, INF)[0] == NOT_REPLICATED


@pytest.mark.parametrize("seed", range(6))
def test_interval_is_at_least_as_wide_as_student_t(seed):
    x = np.random.default_rng(seed).normal(0.6, 0.1, size=5 + seed)
    ci = mean_interval(x)
    t_low, t_high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert ci.t_low == pytest.approx(t_low) and ci.t_high == pytest.approx(t_high)
    assert ci.low <= t_low + 1e-12 and ci.high >= t_high - 1e-12
    assert ci.low <= ci.bca_low and ci.high >= ci.bca_high
    assert math.isfinite(ci.bca_low) and math.isfinite(ci.bca_high)
    assert ci.mean == pytest.approx(x.mean()) and ci.std == pytest.approx(x.std(ddof=1))


def test_interval_is_reproducible():
    x = np.array([0.1, 0.4, 0.35, 0.2, 0.9, 0.5])
    assert mean_interval(x) == mean_interval(x)


def test_single_value_has_an_infinite_interval():
    ci = mean_interval(np.array([0.4]))
    assert ci.low == -INF and ci.high == INF and ci.n == 1


def test_ordering_verdicts():
    a = np.array([0.95, 0.97, 0.96, 0.98, 0.94])
    b = np.array([0.05, 0.03, 0.04, 0.02, 0.06])
    verdict, (diff, low, high) = ordering_verdict(a, b)
    assert verdict == REPLICATED and diff == pytest.approx(0.92) and 0 < low < diff < high
    verdict, (diff, low, high) = ordering_verdict(b, a)
    assert verdict == NOT_REPLICATED and high < 0
    noisy = np.array([0.2, 0.8, 0.5, 0.4, 0.6])
    assert ordering_verdict(noisy, noisy + 0.01)[0] == INCONCLUSIVE
    assert ordering_verdict(a[:4], b[:4])[0] == INCONCLUSIVE  # fewer than 5 seeds
    assert ordering_verdict(a, b[:3])[0] == INCONCLUSIVE
    # Welch's interval is what decides
    ci = sps.ttest_ind(noisy + 0.3, noisy, equal_var=False).confidence_interval(0.95)
    verdict, (_, low, high) = ordering_verdict(noisy + 0.3, noisy)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert verdict == (REPLICATED if ci.low > 0 else INCONCLUSIVE)


def test_ordering_with_constant_values():
    assert ordering_verdict(np.ones(5), np.zeros(5)) == (REPLICATED, (1.0, 1.0, 1.0))
    assert ordering_verdict(np.zeros(5), np.ones(5))[0] == NOT_REPLICATED
    assert ordering_verdict(np.ones(5), np.ones(5))[0] == INCONCLUSIVE
