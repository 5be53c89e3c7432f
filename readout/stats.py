"""Confidence intervals and statistical power for experiment arms.

Users are randomised, sessions are what is measured: a user's sessions are correlated, so
a session-level binomial interval is too narrow. The delta method gives the variance of a
ratio of per-user sums (conversions over sessions) from user-level moments, which the cube
stores per arm and window (n users, Σs, Σc, Σs², Σc², Σsc).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_N = NormalDist()


def z_value(alpha: float = 0.05) -> float:
    """Two-sided critical value."""
    return _N.inv_cdf(1 - alpha / 2)


def normal_interval(center: float, se: float, alpha: float = 0.05) -> tuple[float, float]:
    """The two-sided 1 − alpha normal interval around `center`."""
    z = z_value(alpha)
    return center - z * se, center + z * se


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio of per-user sums (e.g. converting sessions / sessions) and its standard error."""

    value: float
    se: float
    users: int
    denominator: float

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        return normal_interval(self.value, self.se, alpha)


def ratio_estimate(n: int, s: float, c: float, ss: float, cc: float, sc: float) -> RatioEstimate:
    """R = Σc / Σs over n users, with the delta-method standard error.

    Var(R) ≈ (Var(c) − 2R·Cov(c, s) + R²·Var(s)) / (n · mean(s)²), from the sums of squares.
    """
    if n <= 1 or s <= 0:
        return RatioEstimate(float("nan"), float("nan"), n, s)
    r = c / s
    mean_s = s / n
    var_s = (ss - s * s / n) / (n - 1)
    var_c = (cc - c * c / n) / (n - 1)
    cov = (sc - s * c / n) / (n - 1)
    var = max(var_c - 2 * r * cov + r * r * var_s, 0.0) / (n * mean_s * mean_s)
    return RatioEstimate(r, math.sqrt(var), n, s)


@dataclass(frozen=True)
class Comparison:
    """Treatment against control: absolute and relative difference, interval and p-value."""

    diff: float
    se: float
    relative: float
    p_value: float

    def interval(self, alpha: float = 0.05) -> tuple[float, float]:
        return normal_interval(self.diff, self.se, alpha)


def compare_arms(control: RatioEstimate, treatment: RatioEstimate) -> Comparison:
    """Difference of two independent estimates (Welch-style z test)."""
    diff = treatment.value - control.value
    se = math.hypot(control.se, treatment.se)
    rel = diff / control.value if control.value else float("nan")
    if not se or math.isnan(se):
        return Comparison(diff, se, rel, float("nan"))
    p = 2 * (1 - _N.cdf(abs(diff) / se))
    return Comparison(diff, se, rel, p)


def power(effect: float, se_diff: float, alpha: float = 0.05) -> float:
    """Probability that a two-sided z test at `alpha` detects a true difference `effect`,
    given the standard error of the estimated difference."""
    if se_diff <= 0 or math.isnan(se_diff):
        return float("nan")
    z = z_value(alpha)
    shift = abs(effect) / se_diff
    return _N.cdf(shift - z) + _N.cdf(-shift - z)


def minimum_detectable_effect(se_diff: float, alpha: float = 0.05, target: float = 0.8) -> float:
    """The smallest absolute difference detected with probability `target` (one tail)."""
    return (z_value(alpha) + _N.inv_cdf(target)) * se_diff
