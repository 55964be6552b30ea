"""Hand-made interactions and feedback for the review tests: each rule gets its own case."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.store import open_store
from promptloop.store.base import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ids = (str(uuid.UUID(int=n)) for n in range(1, 10**9))


# The queue claims with transactional compare-and-set UPDATEs: the SQL stores only.
REVIEW_BACKENDS = ("duckdb", "postgresql")


@pytest.fixture(params=REVIEW_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/store.duckdb"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def duck(tmp_path: object) -> Iterator[Store]:
    """DuckDB only: for tests whose SQL the both-backend tests already cover."""
    opened = open_store(f"duckdb:///{tmp_path}/duck.duckdb")
    yield opened
    opened.close()


def new_id() -> str:
    return next(_ids)


@dataclass
class World:
    store: Store
    interactions: list[Interaction] = field(default_factory=list)
    feedback: list[FeedbackEvent] = field(default_factory=list)

    def interaction(self, hours_ago: float = 1.0, **values: Any) -> str:
        ident = new_id()
        defaults: dict[str, Any] = {
            "feature": "support_chat",
            "prompt_name": "support_assistant",
            "prompt_version": "1.0.0",
            "user_input": f"question {ident[-4:]}",
            "raw_output": f"answer {ident[-4:]}",
            "session_id": f"s-{ident[-6:]}",
        }
        record = Interaction(
            interaction_id=ident, timestamp=NOW - timedelta(hours=hours_ago), **(defaults | values)
        )
        self.interactions.append(record)
        return ident

    def event(
        self, interaction_id: str, kind: str, minutes_after: float = 1.0, **values: Any
    ) -> None:
        base = next(i for i in self.interactions if i.interaction_id == interaction_id).timestamp
        self.feedback.append(
            FeedbackEvent(
                interaction_id=interaction_id,
                feedback_type=kind,
                timestamp=base + timedelta(minutes=minutes_after),
                **values,
            )
        )

    def save(self) -> Store:
        self.store.insert_interactions(self.interactions)
        self.store.insert_feedback(self.feedback)
        self.interactions, self.feedback = [], []
        return self.store


def world(store: Store) -> World:
    return World(store)


def filler(w: World, n: int) -> list[str]:
    """Interactions nobody said anything about."""
    return [w.interaction(hours_ago=2 + i / 10) for i in range(n)]
