"""Synthetic traffic for the alert tests: evenly spaced interactions, seeded regenerations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.store.base import Store

_NAMESPACE = uuid.UUID("5b7e0c1d-8a2f-4c3b-9d6e-1f0a2b3c4d5e")


@dataclass(frozen=True)
class Segment:
    """``hours`` of traffic at ``per_hour`` interactions, each regenerated with ``rate``."""

    hours: float
    rate: float


@dataclass(frozen=True)
class Traffic:
    interactions: list[Interaction]
    feedback: list[FeedbackEvent]
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
    interactions: list[Interaction] = []
    feedback: list[FeedbackEvent] = []
    flags: list[bool] = []
    moment = start
    for segment in segments:
        count = round(segment.hours * per_hour)
        for flagged in rng.random(count) < segment.rate:
            ident = str(uuid.uuid5(_NAMESPACE, f"{seed}/{feature}/{prompt_version}/{moment}"))
            interactions.append(
                Interaction(
                    interaction_id=ident,
                    session_id=f"s-{len(interactions) // 5}",
                    feature=feature,
                    prompt_name=feature,
                    prompt_version=prompt_version,
                    user_input="summarize this",
                    timestamp=moment,
                )
            )
            if flagged:
                feedback.append(
                    FeedbackEvent(
                        feedback_id=str(uuid.uuid5(_NAMESPACE, f"fb/{ident}")),
                        interaction_id=ident,
                        feedback_type=feedback_type,
                        source="inferred",
                        timestamp=moment + timedelta(seconds=20),
                    )
                )
            flags.append(bool(flagged))
            moment += step
    return Traffic(interactions, feedback, flags)


def load(store: Store, *parts: Traffic) -> None:
    for part in parts:
        store.insert_interactions(part.interactions)
        store.insert_feedback(part.feedback)
