"""A Bernoulli log-likelihood-ratio CUSUM, and the run lengths that set its threshold.

Each interaction of a stream is a Bernoulli trial: it got the signal (a regeneration, a
thumbs-down...) or not. Page's CUSUM tests the in-control rate ``p0`` against the rate
``p1 = p0 x (1 + lift)`` worth an alert:

- an interaction adds ``a = ln(p1/p0)`` when it got the signal and ``-b`` with
  ``b = ln((1-p0)/(1-p1))`` when not, so a bucket of ``n`` interactions with ``x`` events adds
  ``x a - (n-x) b``, which is exactly ``ln Binom(x; n, p1) - ln Binom(x; n, p0)``;
- ``S_k = max(0, S_{k-1} + LLR_k)``, and the detector alarms once ``S > h``.

The threshold ``h`` is chosen for a target in-control average run length (ARL0, in
interactions) with the Markov chain of the CUSUM on a lattice (Brook & Evans, 1972). The
lattice rounds so that the chain always sits at or above the real statistic (the step for
an event rounded up, the step down rounded down, the threshold rounded down), so the ARL0
computed here is a lower bound for the real one: a chosen ``h`` never alarms more often than
designed. Evaluating per bucket instead of per interaction only removes chances to cross,
which raises the real ARL0 further.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.linalg import solve_banded
from scipy.optimize import brentq
from scipy.stats import norm

FloatArray = npt.NDArray[np.float64]

# The larger of the two steps spans at least this many lattice units (<= 2% rounding).
LATTICE_UNITS = 50
# Rates below this are watched as if they were this high: the chain for rarer rates gets
# large, and a rate of 1 in 200 rising by half is a handful of events a day anyway.
MIN_REFERENCE_RATE = 0.005
MAX_THRESHOLD = 60.0


def llr_weights(p0: float, p1: float) -> tuple[float, float]:
    """``(a, b)``: an event adds ``a``, an interaction without it subtracts ``b``."""
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0={p0}, p1={p1}")
    return math.log(p1 / p0), math.log((1 - p0) / (1 - p1))


def bucket_llr(n: npt.ArrayLike, x: npt.ArrayLike, p0: float, p1: float) -> FloatArray:
    """The log-likelihood ratio of each bucket (``n`` interactions, ``x`` with the signal)."""
    a, b = llr_weights(p0, p1)
    events = np.asarray(x, dtype=np.float64)
    return events * a - (np.asarray(n, dtype=np.float64) - events) * b


def cusum_path(increments: npt.ArrayLike) -> FloatArray:
    """``S_k = max(0, S_{k-1} + inc_k)`` from ``S = 0``, without a Python loop.

    Lindley's recursion unrolled: ``S_k = C_k - min(0, min_{j<=k} C_j)`` with ``C`` the
    cumulative sum.
    """
    total = np.cumsum(np.asarray(increments, dtype=np.float64))
    return total - np.minimum(np.minimum.accumulate(total), 0.0)


def run_starts(path: FloatArray) -> npt.NDArray[np.int64]:
    """For each k, the first bucket of the excursion ``S_k`` belongs to (after the last 0).

    This is the CUSUM's own estimate of when the change began.
    """
    index = np.arange(len(path), dtype=np.int64)
    last_zero = np.where(path <= 0.0, index, -1)
    return np.maximum.accumulate(last_zero) + 1


def alternative_rate(p0: float, lift: float) -> float:
    """``p0 x (1 + lift)``, kept below 1 (halfway to 1 at most) for rates that are high."""
    return min(p0 * (1 + lift), (1 + p0) / 2)


def ceil_significant(value: float, digits: int = 2) -> float:
    """Round up to ``digits`` significant digits: 0.0813 -> 0.082."""
    if value <= 0:
        return value
    scale = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    return round(math.ceil(value / scale - 1e-9) * scale, 12)


def reference_rate(events: int, n: int, confidence: float) -> float:
    """The in-control rate the CUSUM tests against, from a baseline of ``n`` interactions.

    The upper end of the Wilson interval (a noisy baseline must not make ordinary traffic
    look like a rise), rounded up to three significant digits (so thresholds can be cached,
    and rounding up only makes the test more conservative), and at least
    :data:`MIN_REFERENCE_RATE`.
    """
    upper = wilson_upper(events, n, confidence)
    return min(max(ceil_significant(upper, 3), MIN_REFERENCE_RATE), 0.99)


@lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    return float(norm.ppf(1 - (1 - confidence) / 2))


def wilson_upper(events: int, n: int, confidence: float) -> float:
    """The upper end of the two-sided Wilson interval (statsmodels' ``method="wilson"``),
    in closed form: this runs for every stream on every check."""
    if n <= 0:
        raise ValueError("the baseline has no interactions")
    z, p = _z(confidence), events / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + margin) / (1 + z * z / n)


def _lattice(a: float, b: float) -> tuple[float, int, int]:
    """``(unit, up, down)``: the smaller step is exact, the larger rounded conservatively."""
    small, large = min(a, b), max(a, b)
    unit = small / math.ceil(LATTICE_UNITS * small / large)
    if a <= b:
        return unit, round(a / unit), math.floor(b / unit + 1e-9)
    return unit, math.ceil(a / unit - 1e-9), round(b / unit)


def average_run_length(p: float, p0: float, p1: float, h: float) -> float:
    """Expected interactions until ``S > h``, from ``S = 0``, when the true rate is ``p``.

    With ``p = p0`` this is the in-control ARL0 (a lower bound, see the module docstring);
    with ``p = p1`` it approximates the detection delay of a change at the start.
    """
    a, b = llr_weights(p0, p1)
    unit, up, down = _lattice(a, b)
    states = math.floor(h / unit) + 1  # the chain alarms on reaching this many units
    # (I - Q) L = 1 over the transient states 0..states-1, stored as a banded matrix.
    band = np.zeros((down + up + 1, states))
    band[up, :] = 1.0
    index = np.arange(states)
    lower = np.maximum(index - down, 0)
    band[up + index - lower, lower] -= 1 - p
    rising = index[: max(states - up, 0)]
    band[0, rising + up] -= p
    lengths = solve_banded((down, up), band, np.ones(states), check_finite=False)
    return float(lengths[0])


@lru_cache(maxsize=2048)
def threshold(p0: float, p1: float, arl0: float) -> float:
    """The smallest ``h`` (to 0.005) whose in-control ARL is at least ``arl0``."""

    def gap(h: float) -> float:
        return math.log(average_run_length(p0, p0, p1, h)) - math.log(arl0)

    a, b = llr_weights(p0, p1)
    drift = p0 * a - (1 - p0) * b  # in-control mean step, negative
    guess = max(math.log(arl0 * -drift), 1.0)  # ARL0 ~ e^h / |drift|
    low, high = max(guess - 2.0, 0.05), guess + 2.0
    while gap(low) > 0 and low > 0.05:
        low = max(low - 2.0, 0.05)
    while gap(high) < 0:
        if high >= MAX_THRESHOLD:
            raise ValueError(f"arl0={arl0:g} needs a threshold above {MAX_THRESHOLD}")
        high += 2.0
    if gap(low) >= 0:
        return low
    h = float(brentq(gap, low, high, xtol=1e-3))
    while gap(h) < 0:  # the lattice ARL is a step function: land on the safe side
        h += 0.005
    return round(h, 4)
