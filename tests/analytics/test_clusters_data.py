"""A small known dataset for the cluster, priority and triage tests (no tests in here).

One feature, ``notes_help``, over three weeks before ``NOW``, two prompt versions (``1.0``
on model-a for the first half, ``2.0`` on model-b for the second), and four planted groups
of negatively signalled inputs:

- ``travel``: booking flights and hotels (out of scope), both versions;
- ``code``: writing code (out of scope), both versions;
- ``export``: exporting notes to PDF, failing under 1.0 only (fixed by 2.0: prompt-fixable);
- ``sync``: notes not syncing, failing equally under both (a model limitation);

plus successful inputs (no signal) about the same in-scope topics. Deterministic.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.store.base import Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=21)
FEATURE = "notes_help"
CITIES = ("Lisbon", "Tokyo", "Berlin", "Madrid", "Chicago", "Rome")
PLATFORMS = ("on iPhone", "on Android", "on Linux", "on Mac", "on Windows")
LANGS = ("Python", "JavaScript", "Go", "Rust")
TASKS = ("parse CSV", "sort a list", "call an API", "read JSON")

TRAVEL = (
    "Book me a flight to {city} on Friday",
    "Can you book a hotel in {city} for my trip?",
    "Book a cheap flight and hotel for my trip to {city}",
    "I need to book a flight to {city} for a business trip",
)
CODE = (
    "Write {lang} code to {task}",
    "Can you write me some {lang} code to {task}?",
    "Fix my {lang} code, it should {task}",
)
EXPORT = (
    "How do I export my notes to PDF {platform}?",
    "Export a notebook to PDF {platform}",
    "where is the option to export notes as PDF {platform}",
)
SYNC = (
    "My notes are not syncing {platform}",
    "Sync stopped working {platform}, notes are missing",
    "notes not syncing between devices {platform}",
)
SUCCESSFUL = (
    "How do I share the {note} notebook with my team {platform}?",
    "How do I add a tag to my {note} note {platform}?",
    "How do I pin the {note} note {platform}?",
    "How do I export my {note} notes to PDF {platform}?",
    "My {note} notes are not syncing {platform}",
    "How do I restore a deleted {note} note {platform}?",
    "How do I change the font of the {note} note {platform}?",
    "How do I create a {note} notebook {platform}?",
    "Can I set a reminder on my {note} note {platform}?",
    "How do I move the {note} note to another notebook {platform}?",
    "Where are my archived {note} notes {platform}?",
    "How do I lock the {note} note with a password {platform}?",
)
NOTES = ("meeting", "grocery", "project", "travel journal", "recipe", "reading", "budget", "ideas")


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class Dataset:
    interactions: list[Interaction] = field(default_factory=list)
    feedback: list[FeedbackEvent] = field(default_factory=list)
    groups: dict[str, set[str]] = field(default_factory=dict)  # planted group -> IDs

    def load(self, store: Store) -> Dataset:
        store.insert_interactions(self.interactions)
        store.insert_feedback(self.feedback)
        return self


class Builder:
    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.data = Dataset()

    def interaction(self, text: str, at: datetime, **fields: Any) -> Interaction:
        version = "1.0" if at < START + timedelta(days=10.5) else "2.0"
        values: dict[str, Any] = {
            "interaction_id": uid(self.rng),
            "session_id": f"s-{self.rng.randrange(10**6)}",
            "user_id": "u_test",
            "feature": FEATURE,
            "prompt_name": "helper",
            "prompt_version": version,
            "model": "model-a" if version == "1.0" else "model-b",
            "user_input": text,
            "raw_output": "An answer.",
            "timestamp": at,
        }
        values.update(fields)
        record = Interaction.model_validate(values)
        self.data.interactions.append(record)
        return record

    def signal(self, target: Interaction, kind: str, **fields: Any) -> FeedbackEvent:
        event = FeedbackEvent.model_validate(
            {
                "feedback_id": uid(self.rng),
                "interaction_id": target.interaction_id,
                "feedback_type": kind,
                "timestamp": target.timestamp + timedelta(minutes=2),
                **fields,
            }
        )
        self.data.feedback.append(event)
        return event

    def when(self, first_half: bool | None = None) -> datetime:
        low, high = (
            (0.0, 21.0) if first_half is None else ((0.0, 10.0) if first_half else (11.0, 21.0))
        )
        return START + timedelta(days=self.rng.uniform(low, high))

    def text(self, templates: tuple[str, ...]) -> str:
        return self.rng.choice(templates).format(
            note=self.rng.choice(NOTES),
            city=self.rng.choice(CITIES),
            platform=self.rng.choice(PLATFORMS),
            lang=self.rng.choice(LANGS),
            task=self.rng.choice(TASKS),
        )

    def group(
        self,
        name: str,
        templates: tuple[str, ...],
        n: int,
        signals: tuple[tuple[str, dict[str, Any]], ...],
        first_half: bool | None = None,
    ) -> None:
        ids = self.data.groups.setdefault(name, set())
        for i in range(n):
            record = self.interaction(self.text(templates), self.when(first_half))
            kind, fields = signals[i % len(signals)]
            self.signal(record, kind, **fields)
            ids.add(record.interaction_id)

    def successful(self, n: int) -> None:
        for i in range(n):
            self.interaction(self.text(SUCCESSFUL), self.when(i % 2 == 0))


Signals = tuple[tuple[str, dict[str, Any]], ...]
OFF_TOPIC: Signals = (
    ("thumbs_down", {"category": "off_topic"}),
    ("abandon", {"source": "inferred"}),
)
WRONG: Signals = (
    ("thumbs_down", {"category": "wrong"}),
    ("regenerate", {}),
    ("correction", {"user_edit": "x"}),
)
UNHELPFUL: Signals = (
    ("regenerate", {}),
    ("thumbs_down", {"category": "unhelpful"}),
    ("abandon", {}),
)


def build(seed: int = 1) -> Dataset:
    """The planted dataset: ~570 interactions, ~170 of them negatively signalled."""
    b = Builder(seed)
    b.group("travel", TRAVEL, 36, OFF_TOPIC)
    b.group("code", CODE, 30, OFF_TOPIC)
    b.group("export", EXPORT, 48, WRONG, first_half=True)
    b.group("sync", SYNC, 60, UNHELPFUL)
    b.successful(400)
    return b.data
