"""Synthetic traffic for the alert tests: evenly spaced interactions, seeded signals.

Rows go in through ``Store.insert_rows`` as plain dicts: they are known-good, and building
tens of thousands of validated records one by one would dominate the tests' run time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from promptloop.store.base import Store

_NAMESPACE = uuid.UUID("5b7e0c1d-8a2f-4c3b-9d6e-1f0a2b3c4d5e")


@dataclass(frozen=True)
class Segment:
    """``hours`` of traffic in which each interaction gets the signal with ``rate``."""

    hours: float
    rate: float


@dataclass(frozen=True)
class Traffic:
    interactions: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    flags: list[bool]


def traffic(
    start: datetime,
    segments: list[Segment],
    *,
    per_hour: int = 200,
    feature: str = "summarize",
    prompt_version: str = "1.0.0",
    seed: int = 1,
    feedback_type: str = "regenerate",
) -> Traffic:
    """Interactions every ``3600 / per_hour`` seconds; the signal 20 s after each flagged one."""
    rng = np.random.default_rng(seed)
    step = timedelta(seconds=3600 / per_hour)
    interactions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    flags: list[bool] = []
    moment = start
    for segment in segments:
        for flagged in rng.random(round(segment.hours * per_hour)) < segment.rate:
            ident = str(uuid.uuid5(_NAMESPACE, f"{seed}/{feature}/{prompt_version}/{moment}"))
            interactions.append(
                {
                    "interaction_id": ident,
                    "session_id": f"s-{len(interactions) // 5}",
                    "feature": feature,
                    "prompt_name": feature,
                    "prompt_version": prompt_version,
                    "user_input": "summarize this",
                    "timestamp": moment,
                    "metadata": "{}",
                }
            )
            if flagged:
                feedback.append(
                    {
                        "feedback_id": str(uuid.uuid5(_NAMESPACE, f"fb/{ident}")),
                        "interaction_id": ident,
                        "feedback_type": feedback_type,
                        "source": "inferred",
                        "timestamp": moment + timedelta(seconds=20),
                        "metadata": "{}",
                    }
                )
            flags.append(bool(flagged))
            moment += step
    return Traffic(interactions, feedback, flags)


def load(store: Store, *parts: Traffic) -> None:
    for part in parts:
        store.insert_rows("llm_interaction_logs", part.interactions)
        if part.feedback:
            store.insert_rows("feedback_events", part.feedback)
