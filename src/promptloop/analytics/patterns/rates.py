"""A closed-form Wilson score interval for the many small rates of cluster statistics.

The same numbers as :func:`promptloop.analytics.stats.wilson` (statsmodels'
``proportion_confint(method="wilson")``; the tests compare them), without its per-call cost
(about a millisecond, times every prompt version of every cluster).
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal


def wilson(count: int, total: int, z: float = Z95) -> dict[str, float | int | None]:
    """``{"count", "n", "rate", "low", "high"}`` with the 95 % Wilson score interval."""
    if total <= 0:
        return {"count": count, "n": total, "rate": None, "low": None, "high": None}
    p = count / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return {
        "count": count,
        "n": total,
        "rate": p,
        "low": max(0.0, centre - half),
        "high": min(1.0, centre + half),
    }


def difference(count_a: int, n_a: int, count_b: int, n_b: int) -> dict[str, float | None]:
    """``b - a`` with Newcombe's hybrid score interval (from the two Wilson intervals) and a
    two-sided two-proportion z-test with pooled variance: the same numbers as
    :func:`promptloop.analytics.stats.difference`."""
    if n_a <= 0 or n_b <= 0:
        return {"diff": None, "low": None, "high": None, "z": None, "p_value": None}
    a, b = wilson(count_a, n_a), wilson(count_b, n_b)
    p_a, p_b = count_a / n_a, count_b / n_b
    low_a, high_a = float(a["low"] or 0.0), float(a["high"] or 0.0)
    low_b, high_b = float(b["low"] or 0.0), float(b["high"] or 0.0)
    diff = p_b - p_a
    low = diff - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    high = diff + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    pooled = (count_a + count_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return {"diff": diff, "low": low, "high": high, "z": 0.0, "p_value": 1.0}
    z = diff / math.sqrt(variance)
    return {"diff": diff, "low": low, "high": high, "z": z, "p_value": math.erfc(abs(z) / 2**0.5)}
