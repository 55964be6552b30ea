"""A collector on a fresh DuckDB store, and how to count what it stored."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import Store, open_store

MAX_BODY_BYTES = 256 * 1024
COUNTED = ("llm_interaction_logs", "feedback_events", "prompt_versions", "prompt_labels")


@dataclass
class Collector:
    client: TestClient
    store: Store

    def counts(self) -> dict[str, int]:
        """Rows per table, after the ingest buffer is flushed to the store."""
        self.client.app.state.ingestor.flush()  # type: ignore[attr-defined]
        return {
            table: int(self.store.fetch_all(f"SELECT count(*) AS n FROM {table}")[0]["n"])
            for table in COUNTED
        }


def collector_settings(tmp_path: Path, store_url: str) -> Settings:
    return Settings(
        store_url=store_url,
        data_dir=tmp_path / "data",
        api_keys=frozenset(),
        max_body_bytes=MAX_BODY_BYTES,
        signals_interval=0,
        alerts_interval=0,
        fsync=False,
    )


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    store = open_store(f"duckdb:///{tmp_path}/hostile.duckdb")
    app = create_app(collector_settings(tmp_path, store.url), store=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Collector(client, store)
    store.close()
