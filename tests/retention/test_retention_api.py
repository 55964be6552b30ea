"""Deletion and retention through the collector, which owns the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.ingest import Ingestor
from promptloop.server.scheduler import RetentionScheduler
from promptloop.server.settings import Settings
from promptloop.store import open_store
from tests.support.records import feedback, interaction

ALICE = "u_" + "a" * 32
BOB = "u_" + "b" * 32


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        store_url=f"duckdb:///{tmp_path}/store.duckdb",
        data_dir=tmp_path / "data",
        api_keys=frozenset(),
        signals_interval=0,
        alerts_interval=0,
        retention={"llm_interaction_logs": 30},
        retention_interval=3600,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _ingest(client: TestClient) -> dict[str, str]:
    now = datetime.now(UTC)
    calls = {
        "alice-new": interaction(user_id=ALICE, timestamp=now - timedelta(days=1)),
        "bob-new": interaction(user_id=BOB, timestamp=now - timedelta(days=1)),
        "bob-old": interaction(user_id=BOB, timestamp=now - timedelta(days=90)),
    }
    body = [call.model_dump(mode="json") for call in calls.values()]
    assert client.post("/v1/interactions", json=body).status_code == 200
    events = [
        feedback(call.interaction_id, "thumbs_down").model_dump(mode="json")
        for call in calls.values()
    ]
    assert client.post("/v1/feedback", json=events).status_code == 200
    return {name: call.interaction_id for name, call in calls.items()}


def test_deleting_a_user_includes_what_is_still_buffered(client: TestClient) -> None:
    ids = _ingest(client)  # acknowledged, possibly not yet written to the store
    dry = client.delete(f"/v1/users/{ALICE}", params={"dry_run": "true"}).json()
    assert dry["deleted"]["llm_interaction_logs"] == 1 and dry["dry_run"] is True
    body = client.delete(f"/v1/users/{ALICE}").json()
    assert body["deleted"]["llm_interaction_logs"] == 1
    assert body["deleted"]["feedback_events"] == 1
    assert client.get(f"/v1/interactions/{ids['alice-new']}").status_code == 404
    assert client.get(f"/v1/interactions/{ids['bob-new']}").status_code == 200


def test_retention_applies_the_configured_rules(client: TestClient) -> None:
    ids = _ingest(client)
    status = client.get("/v1/retention").json()
    assert status["rules"] == {"llm_interaction_logs": 30}
    assert status["last_run"] is None
    body = client.post("/v1/retention/apply", json={}).json()
    assert body["deleted"]["llm_interaction_logs"] == 1
    assert body["deleted"]["feedback_events"] == 1
    assert client.get(f"/v1/interactions/{ids['bob-old']}").status_code == 404
    assert client.get(f"/v1/interactions/{ids['bob-new']}").status_code == 200
    assert client.get("/v1/retention").json()["last_run"]["deleted"]["llm_interaction_logs"] == 1


def test_rules_in_the_request_are_checked(client: TestClient) -> None:
    response = client.post("/v1/retention/apply", json={"rules": {"prompts": 3}})
    assert response.status_code == 422
    assert response.json()["field"] == "rules"


def test_the_rules_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTLOOP_RETENTION", "interactions=90, feedback=365")
    monkeypatch.setenv("PROMPTLOOP_RETENTION_INTERVAL", "600")
    settings = Settings()
    assert settings.retention == {"llm_interaction_logs": 90, "feedback_events": 365}
    assert settings.retention_interval == 600
    monkeypatch.setenv("PROMPTLOOP_RETENTION", "interactions=never")
    with pytest.raises(ValueError, match="whole number"):
        Settings()


class _Observed(RetentionScheduler):
    """Tells the test when the scheduled loop has completed a run."""

    ran = threading.Event()

    def run_now(self, rules: dict[str, int] | None = None, *, dry_run: bool = False) -> Any:
        report = super().run_now(rules, dry_run=dry_run)
        self.ran.set()
        return report


def test_the_schedule_runs_the_rules(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/store.duckdb")
    old = interaction(user_id=BOB, timestamp=datetime.now(UTC) - timedelta(days=90))
    store.insert_interactions([old])
    ingestor = Ingestor(store, tmp_path / "wal")
    scheduler = _Observed(ingestor, store, {"llm_interaction_logs": 30}, interval=0.01)
    scheduler.start()
    try:
        assert scheduler.ran.wait(timeout=60)
    finally:
        scheduler.stop()
        ingestor.close()
    assert scheduler.last_run is not None
    assert scheduler.last_run["deleted"]["llm_interaction_logs"] == 1
    rows = store.fetch_all("SELECT count(*) AS n FROM llm_interaction_logs")
    store.close()
    assert rows[0]["n"] == 0
