"""Per-claim statistics: the 95 % interval of a mean over seeds and the verdict rules of the design brief.

The interval is the wider of Student-t and BCa bootstrap (10,000 resamples, fixed seed), because a bootstrap alone
under-covers at 3-10 seeds. Verdicts: ``replicated`` (interval inside the band / beyond the threshold),
``not replicated`` (entirely outside), ``inconclusive`` (straddles, or fewer than ``n_min`` seeds).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

REPLICATED, NOT_REPLICATED, INCONCLUSIVE = "replicated", "not replicated", "inconclusive"
NOT_RUN, STALE = "not run at paper budget", "stale"
N_MIN = 5


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    std: float
    t_low: float
    t_high: float
    bca_low: float
    bca_high: float

    @property
    def low(self) -> float:
        return min(self.t_low, self.bca_low)

    @property
    def high(self) -> float:
        return max(self.t_high, self.bca_high)


def mean_interval(x: np.ndarray, level: float = 0.95) -> Interval:
    """Student-t and BCa intervals for the mean of ``x`` (one number per seed)."""
    x = np.asarray(x, dtype=float)
    n, m = len(x), float(np.mean(x))
    std = float(np.std(x, ddof=1)) if n > 1 else float("nan")
    if n < 2:
        return Interval(n, m, std, float("-inf"), float("inf"), float("-inf"), float("inf"))
    if np.ptp(x) == 0:  # identical seeds: both intervals are degenerate, use the point
        return Interval(n, m, 0.0, m, m, m, m)
    lo_t, hi_t = stats.t.interval(level, n - 1, loc=m, scale=stats.sem(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns on tiny or degenerate samples; NaN handled below
        ci = stats.bootstrap((x,), np.mean, confidence_level=level, method="BCa", n_resamples=10_000,
                             random_state=0).confidence_interval
    lo_b, hi_b = (float(ci.low), float(ci.high))
    if not np.isfinite(lo_b) or not np.isfinite(hi_b):
        lo_b, hi_b = float(lo_t), float(hi_t)
    return Interval(n, m, std, float(lo_t), float(hi_t), lo_b, hi_b)


def interval_verdict(ci_low: float, ci_high: float, low: float, high: float, enough: bool = True) -> str:
    """``replicated`` when [ci_low, ci_high] lies inside [low, high], ``not replicated`` when it lies entirely
    outside, else (or without ``enough`` seeds) ``inconclusive``."""
    if not enough:
        return INCONCLUSIVE
    if low <= ci_low and ci_high <= high:
        return REPLICATED
    if ci_high < low or ci_low > high:
        return NOT_REPLICATED
    return INCONCLUSIVE


def band_verdict(x: np.ndarray, low: float, high: float, n_min: int = N_MIN) -> tuple[str, Interval]:
    """Verdict for 'the mean lies in [low, high]' (use +-inf for one-sided thresholds)."""
    ci = mean_interval(x)
    return interval_verdict(ci.low, ci.high, low, high, ci.n >= n_min), ci


def ordering_verdict(a: np.ndarray, b: np.ndarray, n_min: int = N_MIN) -> tuple[str, tuple[float, float, float]]:
    """Verdict for 'mean(a) > mean(b)' from Welch's 95 % interval of the difference."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = float(np.mean(a) - np.mean(b)) if len(a) and len(b) else float("nan")
    if len(a) < n_min or len(b) < n_min:
        return INCONCLUSIVE, (diff, float("-inf"), float("inf"))
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        low = high = diff
    else:
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        low, high = float(ci.low), float(ci.high)
    if low > 0:
        return REPLICATED, (diff, low, high)
    if high < 0:
        return NOT_REPLICATED, (diff, low, high)
    return INCONCLUSIVE, (diff, low, high)


def best_of_seeds_verdict(values: np.ndarray, standard_errors: np.ndarray, selection: np.ndarray, low: float,
                          high: float, n_min: int = N_MIN) -> tuple[str, int, tuple[float, float]]:
    """Verdict for a best-of-seeds number, the way a paper that reports its best run produced it: the seed with
    the highest ``selection`` value is picked, and its ``value`` (a mean over many evaluation trials, with standard
    error ``standard_errors``) is compared through its normal 95 % interval. Returns (verdict, index, interval)."""
    best = int(np.argmax(selection))
    half = float(stats.norm.ppf(0.975)) * float(standard_errors[best])
    ci = (float(values[best]) - half, float(values[best]) + half)
    return interval_verdict(*ci, low, high, len(values) >= n_min), best, ci
