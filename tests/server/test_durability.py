"""An acknowledged event is never lost: not on a crash, not on a store outage."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from promptloop.core.records import Interaction
from promptloop.server.ingest import Ingestor
from promptloop.server.wal import WriteAheadLog, read_segment
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.reliability.scenarios import restarted, subprocess_store_url
from tests.support.collector import collector_process
from tests.support.records import feedback, interaction


def test_acknowledged_events_survive_a_kill_right_after_the_response(
    store_url: str, tmp_path: Path
) -> None:
    store_url = subprocess_store_url(store_url, tmp_path)
    data_dir = tmp_path / "data"
    batch = [{"interactionId": str(uuid.uuid4()), "userInput": f"q{i}"} for i in range(200)]
    events = [{"interactionId": item["interactionId"], "feedbackType": "copy"} for item in batch]
    # A flush interval of an hour: nothing reaches the store before the kill.
    with collector_process(store_url, data_dir, flush_interval=3600) as collector:
        with httpx.Client(base_url=collector.url) as http:
            assert http.post("/v1/interactions", json=batch).status_code == 200
            assert http.post("/v1/feedback", json=events).status_code == 200
        collector.kill()
    # Restarted in this process when it may open the store (its start-up recovery is what is
    # tested; one subprocess start less); chdb's directory belongs to a subprocess.
    with restarted(store_url, data_dir, in_process=not store_url.startswith("chdb")) as http:
        stats = http.get("/v1/stats").json()
    assert stats["store"]["interactions"] == 200
    assert stats["store"]["feedback_events"] == 200
    assert stats["ingest"]["replayed_segments"] >= 1
    assert not list((data_dir / "wal").glob("wal-*.jsonl"))[1:]  # only the fresh segment


class _FailingStore:
    """Wraps a real store and fails writes while ``down`` is set: an outage of the engine."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = True
        self.dialect = inner.dialect
        self.url = inner.url

    def insert_interactions(self, items: list[Interaction]) -> int:
        if self.down:
            raise ConnectionError("store unreachable")
        return self.inner.insert_interactions(items)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_records_wait_in_the_log_while_the_store_is_down(store: Store, tmp_path: Path) -> None:
    flaky = _FailingStore(store)
    ingestor = Ingestor(flaky, tmp_path / "wal", flush_interval=3600)  # type: ignore[arg-type]
    records = [interaction() for _ in range(5)]
    ingestor.submit("interactions", records)
    assert ingestor.flush() == 0
    assert ingestor.stats.store_errors == 1 and ingestor.pending() == 5
    assert sum(len(rows) for _, rows in _all_batches(tmp_path / "wal")) == 5
    flaky.down = False
    assert ingestor.flush() == 5
    assert store.fetch_all("SELECT count(*) AS n FROM llm_interaction_logs")[0]["n"] == 5
    assert sum(len(rows) for _, rows in _all_batches(tmp_path / "wal")) == 0
    ingestor.stop()


def test_recovery_replays_unstored_segments_idempotently(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/s.duckdb")
    first = Ingestor(store, tmp_path / "wal", flush_interval=3600)
    record = interaction()
    first.submit("interactions", [record])
    first.submit("feedback", [feedback(record.interaction_id, "thumbs_up")])
    store.insert_interactions([record])  # partly stored before the "crash"
    first.close()  # no flush: the process died. A new collector on the same directory recovers.
    second = Ingestor(store, tmp_path / "wal", flush_interval=3600)
    assert second.recover() == 2
    assert second.stats.stored == {"interactions": 0, "feedback": 1}
    assert second.stats.duplicates["interactions"] == 1
    second.close()
    store.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append("interactions", [{"interaction_id": "a"}])
    segment = wal.rotate()
    with segment.open("ab") as handle:
        handle.write(b'{"kind": "interactions", "rows": [{"interac')
    assert [rows for _, rows in read_segment(segment)] == [[{"interaction_id": "a"}]]
    wal.close()


def _all_batches(directory: Path) -> list[tuple[str, list[dict[str, object]]]]:
    return [
        batch
        for segment in sorted(directory.glob("wal-*.jsonl"))
        for batch in read_segment(segment)
    ]


def test_the_log_keeps_request_bodies_as_sent_and_replays_them_as_acknowledged(
    tmp_path: Path,
) -> None:
    """Raw bodies (pretty-printed, camelCase, no timestamp) replay to the records that were
    acknowledged: same IDs, and the time of receipt for records that carried none."""
    from datetime import UTC, datetime

    import orjson

    from promptloop.server.ingest import validate_items

    store = open_store(f"duckdb:///{tmp_path}/s.duckdb")
    first = Ingestor(store, tmp_path / "wal", flush_interval=3600)
    ident = str(uuid.uuid4())
    items = [{"interactionId": ident, "userInput": "line one\nline two"}]
    body = orjson.dumps(items, option=orjson.OPT_INDENT_2)
    assert b"\n" in body
    received = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first.submit("interactions", validate_items("interactions", items).records, body, received)
    first.close()  # killed before any flush
    second = Ingestor(store, tmp_path / "wal", flush_interval=3600)
    assert second.recover() == 1
    row = store.fetch_all(
        "SELECT user_input, timestamp FROM llm_interaction_logs WHERE interaction_id = :i",
        {"i": ident},
    )[0]
    assert row["user_input"] == "line one\nline two"
    assert row["timestamp"].replace(tzinfo=UTC) == received
    second.close()
    store.close()


def test_the_collector_checkpoints_the_embedded_store_once_writes_pause(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    store = open_store(f"duckdb:///{path}")
    store.migrate()
    # The store defers DuckDB's own checkpoints so that no ingest commit stalls on one.
    threshold = store.fetch_all("SELECT current_setting('checkpoint_threshold') AS t")[0]["t"]
    assert threshold.startswith("256")  # MiB
    ingestor = Ingestor(store, tmp_path / "wal", checkpoint_idle=2.0)
    try:
        assert not ingestor.checkpoint_if_idle(now=10**9)  # nothing written yet
        ingestor.submit("interactions", [interaction() for _ in range(50)])
        assert ingestor.flush() == 50
        wal = Path(f"{path}.wal")
        assert wal.exists() and wal.stat().st_size > 0
        written = time.monotonic()
        assert not ingestor.checkpoint_if_idle(now=written)  # writes have not paused
        assert ingestor.checkpoint_if_idle(now=written + 2.0)
        assert ingestor.stats.checkpoints == 1
        assert not wal.exists() or wal.stat().st_size == 0
        assert not ingestor.checkpoint_if_idle(now=written + 60)  # nothing new since
    finally:
        ingestor.close()
        store.close()
    reopened = open_store(f"duckdb:///{path}")
    try:
        assert reopened.fetch_all("SELECT count(*) AS n FROM llm_interaction_logs")[0]["n"] == 50
    finally:
        reopened.close()
