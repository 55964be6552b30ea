"""The detector for one stream, as pure functions of its bucket counts (no store, no clock).

``check`` feeds these from SQL; the benchmark feeds them simulated traffic. Same code, so
the benchmark's detection delay and false-alert rate are the product's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from promptloop.analytics.alerts.cusum import (
    FloatArray,
    alternative_rate,
    average_run_length,
    bucket_llr,
    cusum_path,
    reference_rate,
    run_starts,
    threshold,
)
from promptloop.analytics.alerts.rules import AlertRule, AlertSettings
from promptloop.core.records import as_utc

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Counts:
    """Interactions (``n``) and those with the signal (``x``) per bucket, oldest first.

    Bucket ``k`` covers ``[origin + k * bucket, origin + (k + 1) * bucket)`` clipped to
    ``[start, end)``: ``origin`` is aligned to the bucket size, so buckets do not shift
    between checks.
    """

    origin: datetime
    bucket: timedelta
    start: datetime
    end: datetime
    n: IntArray
    x: IntArray

    def bucket_start(self, k: int) -> datetime:
        return max(self.origin + k * self.bucket, self.start)

    def bucket_end(self, k: int) -> datetime:
        return min(self.origin + (k + 1) * self.bucket, self.end)

    def index_at(self, moment: datetime) -> int:
        """The first bucket that starts at or after ``moment`` (clipped to the series)."""
        steps = math.ceil((as_utc(moment) - self.origin) / self.bucket)
        return min(max(steps, 0), len(self.n))

    def totals(self, first: int, last: int | None = None) -> tuple[int, int]:
        """``(n, x)`` summed over buckets ``first..last`` (inclusive; default: to the end)."""
        stop = len(self.n) if last is None else last + 1
        return int(self.n[first:stop].sum()), int(self.x[first:stop].sum())


def empty_counts(start: datetime, end: datetime, bucket: timedelta) -> Counts:
    """A series of empty buckets covering ``[start, end)``."""
    origin = aligned(start, bucket)
    size = max(math.ceil((end - origin) / bucket), 0)
    zeros = np.zeros(size, dtype=np.int64)
    return Counts(origin, bucket, start, end, zeros, zeros.copy())


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_index(moment: datetime, bucket: timedelta) -> int:
    """Buckets are counted from the Unix epoch, as the SQL does: ``floor(epoch / size)``."""
    return (as_utc(moment) - EPOCH) // bucket


def aligned(moment: datetime, bucket: timedelta) -> datetime:
    """The start of the bucket holding ``moment``."""
    return EPOCH + bucket_index(moment, bucket) * bucket


@dataclass(frozen=True)
class Baseline:
    start: datetime
    end: datetime
    n: int
    events: int

    @property
    def rate(self) -> float | None:
        return self.events / self.n if self.n else None


@dataclass(frozen=True)
class Design:
    """The test one stream runs: in-control ``p0``, alternative ``p1``, threshold ``h``."""

    p0: float
    p1: float
    h: float
    arl0: float  # the in-control ARL at h (lower bound, interactions)

    @classmethod
    def for_rates(cls, p0: float, lift: float, arl0: float) -> Design:
        return _design(p0, lift, arl0)

    def as_dict(self) -> dict[str, float]:
        return {"p0": self.p0, "p1": self.p1, "h": self.h, "arl0": round(self.arl0)}


@lru_cache(maxsize=4096)
def _design(p0: float, lift: float, arl0: float) -> Design:
    # Reference rates have two significant digits, so a handful of designs serve every check.
    p1 = round(alternative_rate(p0, lift), 10)  # 0.12735, not 0.12735000000000002
    h = threshold(p0, p1, arl0)
    return Design(p0, p1, h, average_run_length(p0, p0, p1, h))


def design_for(baseline: Baseline, rule: AlertRule, settings: AlertSettings) -> Design | None:
    """The stream's test, or None when its baseline is too thin to trust."""
    if baseline.n < settings.min_baseline_interactions:
        return None
    p0 = reference_rate(baseline.events, baseline.n, settings.baseline_confidence)
    return Design.for_rates(p0, rule.lift, settings.arl0)


@dataclass(frozen=True)
class Excursion:
    """A run of the CUSUM above zero that crossed the threshold with enough evidence."""

    first: int  # first bucket of the run: the CUSUM's estimate of the change point
    alarm: int  # the bucket where it crossed with enough evidence
    statistic: float  # the run's peak so far
    current: float  # the statistic at the last bucket
    n: int  # interactions from ``first`` to the end of the series
    events: int
    path: FloatArray  # the statistic per bucket, from ``from_index`` on

    def as_dict(self, counts: Counts) -> dict[str, Any]:
        return {
            "change_point": counts.bucket_start(self.first),
            "alarm_at": counts.bucket_end(self.alarm),
            "statistic": self.statistic,
            "current": self.current,
        }


def _qualifying(
    counts: Counts, path: FloatArray, offset: int, h: float, settings: AlertSettings
) -> npt.NDArray[np.bool_]:
    """Buckets where the statistic is above ``h`` and its run has the minimum evidence."""
    starts = run_starts(path)
    cum_n = np.concatenate(([0], np.cumsum(counts.n[offset:])))
    cum_x = np.concatenate(([0], np.cumsum(counts.x[offset:])))
    index = np.arange(len(path))
    run_n = cum_n[index + 1] - cum_n[starts]
    run_x = cum_x[index + 1] - cum_x[starts]
    enough = (run_n >= settings.min_interactions) & (run_x >= settings.min_events)
    result: npt.NDArray[np.bool_] = (path > h) & enough
    return result


def detect(
    counts: Counts, design: Design, settings: AlertSettings, from_index: int = 0
) -> Excursion | None:
    """The latest excursion above ``h`` (with enough evidence) since bucket ``from_index``."""
    llr = bucket_llr(counts.n[from_index:], counts.x[from_index:], design.p0, design.p1)
    return _excursion(counts, cusum_path(llr), from_index, design.h, settings)


def _excursion(
    counts: Counts, path: FloatArray, offset: int, h: float, settings: AlertSettings
) -> Excursion | None:
    hits = np.flatnonzero(_qualifying(counts, path, offset, h, settings))
    if hits.size == 0:
        return None
    starts = run_starts(path)
    first = int(starts[hits[-1]])
    alarm = int(hits[starts[hits] == first][0])
    end = _run_end(path, first)
    n, events = counts.totals(offset + first)
    return Excursion(
        first=offset + first,
        alarm=offset + alarm,
        statistic=float(path[first : end + 1].max()),
        current=float(path[-1]),
        n=n,
        events=events,
        path=path,
    )


def _run_end(path: FloatArray, first: int) -> int:
    """The last bucket of the run starting at ``first`` (before the statistic hits 0)."""
    zeros = np.flatnonzero(path[first:] <= 0.0)
    return first + int(zeros[0]) - 1 if zeros.size else len(path) - 1


@dataclass(frozen=True)
class Return:
    """Evidence that the rate went back to the baseline: the mirrored CUSUM crossed ``h``."""

    at: int
    statistic: float
    n: int
    events: int


def returned(
    counts: Counts, design: Design, settings: AlertSettings, from_index: int
) -> Return | None:
    """Has the rate come back to ``p0`` since bucket ``from_index``?

    The mirror image of detection: a CUSUM of ``ln(P(p0) / P(p1))`` must cross the same
    ``h``, so an alert resolves on as much evidence for the baseline as it took to open.
    """
    llr = -bucket_llr(counts.n[from_index:], counts.x[from_index:], design.p0, design.p1)
    path = cusum_path(llr)
    since = np.cumsum(counts.n[from_index:])
    hits = np.flatnonzero((path > design.h) & (since >= settings.min_interactions))
    if hits.size == 0:
        return None
    n, events = counts.totals(from_index)
    return Return(from_index + int(hits[0]), float(path.max()), n, events)
