"""Statistics that respect sparse, biased feedback data. Thin wrappers over statsmodels/scipy.

- Proportions get Wilson score intervals (good coverage at small n and near 0 or 1, where
  the normal approximation fails).
- A difference of two proportions gets Newcombe's hybrid score interval (method 10, built
  from the two Wilson intervals) and a two-sided two-proportion z-test with pooled variance.
- Many comparisons at once get Holm's step-down correction (controls the family-wise error
  rate without Bonferroni's loss of power).
- "How many more interactions?" uses the normal-approximation power analysis for two
  proportions on the arcsine scale (Cohen's h), at 80% power and alpha 0.05.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import norm
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
POWER = 0.8


@dataclass(frozen=True)
class Rate:
    """A proportion with its denominator and its 95% Wilson interval."""

    count: int
    total: int
    rate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "n": self.total,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
        }


_Z95 = float(norm.ppf(1 - ALPHA / 2))


def wilson(count: int, total: int, confidence: float = CONFIDENCE) -> Rate:
    """The Wilson score interval, in closed form (it is on every rate of every page)."""
    if total <= 0:
        return Rate(count, total, None, None, None)
    z = _Z95 if confidence == CONFIDENCE else float(norm.ppf(1 - (1 - confidence) / 2))
    p = count / total
    z2n = z * z / total
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / total + z2n / (4 * total)) / (1 + z2n)
    return Rate(count, total, p, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Difference:
    """``b - a`` of two proportions, with its interval and a two-sided test."""

    a: Rate
    b: Rate
    diff: float | None
    low: float | None
    high: float | None
    z: float | None
    p_value: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "diff": self.diff,
            "low": self.low,
            "high": self.high,
            "z": self.z,
            "p_value": self.p_value,
        }


def difference(count_a: int, n_a: int, count_b: int, n_b: int) -> Difference:
    a, b = wilson(count_a, n_a), wilson(count_b, n_b)
    if n_a <= 0 or n_b <= 0:
        return Difference(a, b, None, None, None, None, None)
    low, high = confint_proportions_2indep(
        count_b, n_b, count_a, n_a, method="newcomb", compare="diff", alpha=ALPHA
    )
    if count_a + count_b in (0, n_a + n_b):
        z, p_value = 0.0, 1.0  # no variation at all: nothing to test
    else:
        z_stat, p_stat = proportions_ztest([count_b, count_a], [n_b, n_a])
        z, p_value = float(z_stat), float(p_stat)
    return Difference(a, b, count_b / n_b - count_a / n_a, float(low), float(high), z, p_value)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order.

    Step-down: sorted ascending, the i-th of m is multiplied by (m - i), kept monotone and
    capped at 1. Closed form: statsmodels' ``multipletests`` gives the same numbers but runs a
    full garbage collection per call (~0.5 s), too slow for a page that compares versions.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sample_size_per_group(
    p_a: float, p_b: float, power: float = POWER, alpha: float = ALPHA
) -> int | None:
    """Interactions needed in each group to detect ``p_a`` vs ``p_b`` (two-sided).

    Closed form on the arcsine scale (Cohen's h): Var(2 asin sqrt(p_hat)) ~ 1/n, so two groups
    of n need n = 2 ((z_(1-alpha/2) + z_power) / h)^2. The same as statsmodels'
    ``NormalIndPower``, without its root finder (which fails at rates of 0 or 1).
    """
    effect = abs(float(proportion_effectsize(p_b, p_a)))
    if effect == 0 or math.isnan(effect):
        return None
    z_sum = float(norm.ppf(1 - alpha / 2) + norm.ppf(power))
    return math.ceil(2 * (z_sum / effect) ** 2)


def z_critical(confidence: float = CONFIDENCE) -> float:
    return float(norm.ppf(1 - (1 - confidence) / 2))
