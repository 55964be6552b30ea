"""The seed end to end: its middleware fills a PostgreSQL store through the collector, and
its own query function, with its own SQL and psycopg2, runs unchanged against that store."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

import promptloop
from tests.support.collector import CollectorProcess, collector_process


# --- the seed's code, verbatim --------------------------------------------------------------
def get_high_regeneration_inputs(conn, prompt_version: str, days: int = 14):  # type: ignore[no-untyped-def]
    """
    Returns user inputs that triggered regeneration more than once
    within the specified window and prompt version.
    """
    query = """
        SELECT
            l.user_input,
            COUNT(f.feedback_id) AS regeneration_count
        FROM llm_interaction_logs l
        JOIN feedback_events f
            ON l.interaction_id = f.interaction_id
        WHERE f.feedback_type = 'regenerate'
          AND l.prompt_version = %s
          AND l.timestamp >= NOW() - INTERVAL '%s days'
        GROUP BY l.user_input
        HAVING COUNT(f.feedback_id) > 1
        ORDER BY regeneration_count DESC
        LIMIT 50;
    """
    with conn.cursor() as cur:
        cur.execute(query, (prompt_version, days))
        return cur.fetchall()


# --------------------------------------------------------------------------------------------


class _SeedLogger:
    """A logger as the seed's code would pass in: ours, spied on."""

    def __init__(self) -> None:
        self.inner = promptloop.Logger()
        self.entries: list[dict[str, Any]] = []

    def log(self, entry: dict[str, Any]) -> Any:
        self.entries.append(entry)
        return self.inner.log(entry)


@pytest.fixture
def collector(pg_url: str, tmp_path: Path) -> Iterator[CollectorProcess]:
    with collector_process(pg_url, tmp_path / "data") as running:
        yield running


def test_the_seeds_query_runs_unchanged_on_a_store_filled_through_the_sdk(
    collector: CollectorProcess, pg_url: str, tmp_path: Path
) -> None:
    client = promptloop.init(url=collector.url, strict=True, spool_dir=tmp_path / "spool")
    try:
        answers = iter(["Try restarting.", "Check the cable.", "Here is a summary."] * 10)

        def call_llm(system_prompt: str, user_input: str) -> str:
            return next(answers)

        logger = _SeedLogger()
        wrapped = promptloop.llm_logging_middleware(call_llm, logger, prompt_version="v1.4")
        old = promptloop.llm_logging_middleware(call_llm, logger, prompt_version="v1.3")
        system = "You are a support assistant."
        with promptloop.context(session_id="sess-1", user_id="alice@example.com"):
            stuck = wrapped(system, "How do I fix it?")
            regenerated = [wrapped(system, "How do I fix it?") for _ in range(2)]
            once = wrapped(system, "Summarise my last ticket")
            other_version = old(system, "How do I fix it?")
        for result in (stuck, stuck, *regenerated):
            promptloop.feedback(result["interactionId"], "regenerate")
        promptloop.feedback(once["interactionId"], "regenerate")
        for _ in range(3):
            promptloop.feedback(other_version["interactionId"], "regenerate")
        assert client.flush(timeout=30)
        assert client.stats()["dropped"] == 0
    finally:
        promptloop.shutdown()

    assert set(stuck) == {"interactionId", "output"}
    uuid.UUID(stuck["interactionId"])
    assert logger.entries[0]["promptVersion"] == "v1.4"

    # Acknowledged means durable in the collector's log; any read through the API also
    # writes the log's tail to the store, after which plain SQL sees everything.
    stats = httpx.get(f"{collector.url}/v1/stats").json()
    assert stats["store"] == {**stats["store"], "interactions": 5, "feedback_events": 8}

    conn = psycopg2.connect(pg_url)
    try:
        rows = get_high_regeneration_inputs(conn, "v1.4")
    finally:
        conn.close()
    assert rows == [("How do I fix it?", 4)]

    conn = psycopg2.connect(pg_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT user_id, session_id, system_prompt FROM llm_interaction_logs")
            stored = cur.fetchall()
    finally:
        conn.close()
    assert Counter(row[1] for row in stored) == {"sess-1": 5}
    assert all(row[0] and "alice" not in row[0] for row in stored)  # hashed in-process
    assert {row[2] for row in stored} == {system}
