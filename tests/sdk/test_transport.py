"""Batching, retries, spooling, replay, drops, flush-at-exit: against a real HTTP collector."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import promptloop
from promptloop.core.records import FeedbackEvent, Interaction
from tests.support.recording_collector import RecordingCollector


@promptloop.track(feature="transport")
def answer(prompt: str) -> str:
    return "answer to " + prompt


def spool_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "spool").rglob("*.jsonl"))


def test_batches_headers_and_wire_format(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client(batch_size=3)
    for i in range(7):
        answer(f"q{i}")
    assert client.flush(timeout=10)
    sizes = [len(r.records) for r in collector.requests]
    assert sum(sizes) == 7 and max(sizes) <= 3
    request = collector.requests[0]
    assert request.path == "/v1/interactions"
    assert request.headers["Authorization"] == "Bearer test-api-key"
    assert request.headers["Content-Type"] == "application/json"
    record = request.records[0]
    assert set(record) <= set(Interaction.model_fields)
    assert record["timestamp"].endswith("+00:00")
    assert [r["user_input"] for r in collector.interactions()] == [f"q{i}" for i in range(7)]
    stats = client.stats()
    assert stats["queued"] == 7 and stats["sent"] == 7 and stats["pending"] == 0
    assert stats["dropped"] == stats["failed"] == stats["spooled"] == 0


def test_large_bodies_are_split(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client(max_body_bytes=2_000)
    for _ in range(6):
        answer("x" * 600)
    assert client.flush(timeout=10)
    assert len(collector.requests) >= 3
    assert len(collector.interactions()) == 6


def test_retries_5xx_then_succeeds(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client()
    collector.plan(503, times=2)
    answer("q")
    assert client.flush(timeout=10)
    assert collector.statuses() == [503, 503, 200]
    assert client.stats()["sent"] == 1 and client.stats()["spooled"] == 0


def test_retry_after_is_honoured(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client()
    collector.plan(429, headers={"Retry-After": "0"})
    answer("q")
    assert client.flush(timeout=10)
    assert collector.statuses() == [429, 200]


def test_long_retry_after_spools_at_once(
    make_client: Any, collector: RecordingCollector, tmp_path: Path
) -> None:
    client = make_client()
    collector.plan(429, headers={"Retry-After": "3600"})
    answer("q")
    assert client.flush(timeout=10)
    assert collector.statuses() == [429]
    assert client.stats()["spooled"] == 1
    assert len(spool_files(tmp_path)) == 1


def test_exhausted_retries_spool_then_replay(
    make_client: Any, collector: RecordingCollector, tmp_path: Path
) -> None:
    client = make_client(max_attempts=3)
    collector.plan(503, times=3)
    answer("first")
    assert client.flush(timeout=10)
    assert collector.statuses() == [503, 503, 503]
    assert client.stats()["spooled"] == 1
    [spooled] = spool_files(tmp_path)
    assert json.loads(spooled.read_bytes().splitlines()[0])["user_input"] == "first"

    answer("second")
    assert client.flush(timeout=10)
    assert [r["user_input"] for r in collector.interactions()] == ["first", "second"]
    stats = client.stats()
    assert stats["replayed"] == 1 and stats["sent"] == 1
    assert spool_files(tmp_path) == []


def test_collector_down_then_back(
    make_client: Any, collector: RecordingCollector, tmp_path: Path
) -> None:
    client = make_client()
    collector.down()
    for i in range(3):
        answer(f"while down {i}")
    promptloop.feedback(promptloop.last_interaction_id() or "", "thumbs_up")
    assert client.flush(timeout=10)  # never raises, even in strict mode
    stats = client.stats()
    assert stats["spooled"] == 4 and stats["sent"] == 0
    assert len(spool_files(tmp_path)) == 2

    collector.up()
    assert client.flush(timeout=10)
    assert len(collector.interactions()) == 3
    assert len(collector.feedback()) == 1
    assert client.stats()["replayed"] == 4
    assert spool_files(tmp_path) == []


def test_spool_is_replayed_by_a_new_client(
    make_client: Any, collector: RecordingCollector, tmp_path: Path
) -> None:
    collector.down()
    first = make_client()
    answer("from a previous run")
    assert first.shutdown(timeout=10)
    assert len(spool_files(tmp_path)) == 1

    collector.up()
    second = make_client()
    assert second.flush(timeout=10)
    assert [r["user_input"] for r in collector.interactions()] == ["from a previous run"]
    assert second.stats()["replayed"] == 1


def test_partial_acceptance_counts_rejections(
    make_client: Any, collector: RecordingCollector
) -> None:
    client = make_client()
    collector.plan(207, reject=(1,))
    for i in range(3):
        answer(f"q{i}")
    assert client.flush(timeout=10)
    assert collector.statuses() == [207]  # rejected records are not retried
    stats = client.stats()
    assert stats["sent"] == 2 and stats["rejected"] == 1


def test_invalid_records_are_rejected_not_retried(
    make_client: Any, collector: RecordingCollector
) -> None:
    client = make_client()
    promptloop.Logger().log({"interactionId": "not-a-uuid", "rawOutput": "x"})
    promptloop.Logger().log({"interactionId": "1b4e28ba-2fa1-41d2-883f-0016d3cca427"})
    assert client.flush(timeout=10)
    assert collector.statuses() == [207]
    assert client.stats()["rejected"] == 1 and client.stats()["sent"] == 1


def test_permanent_failure_is_counted(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client()
    collector.plan(401)
    answer("q")
    assert client.flush(timeout=10)
    assert collector.statuses() == [401]
    stats = client.stats()
    assert stats["failed"] == 1 and stats["spooled"] == 0 and stats["sent"] == 0


def test_full_queue_drops_and_counts(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client(max_queue=5, batch_size=1000)
    for i in range(8):
        answer(f"q{i}")
    assert client.stats()["dropped"] == 3
    assert client.flush(timeout=10)
    assert len(collector.interactions()) == 5
    assert client.stats()["queued"] == 5


def test_unreachable_collector_never_raises(make_client: Any, tmp_path: Path) -> None:
    unused = RecordingCollector()
    unused.down()
    client = make_client(url=unused.url)
    assert answer("q") == "answer to q"
    assert promptloop.feedback(promptloop.last_interaction_id() or "", "copy") is not None
    assert client.flush(timeout=10)
    assert client.stats()["spooled"] == 2


def test_events_after_shutdown_are_dropped(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client()
    answer("before")
    assert client.shutdown(timeout=10)
    answer("after")
    assert client.stats()["dropped"] == 1
    assert len(collector.interactions()) == 1


def test_disabled_client_sends_nothing(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client(enabled=False)
    answer("q")
    assert client.flush(timeout=1)
    assert collector.requests == []
    assert client.stats()["queued"] == 0


def test_flush_at_exit(collector: RecordingCollector, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import promptloop

        promptloop.init({collector.url!r}, flush_interval=60, spool_dir={str(tmp_path)!r})

        @promptloop.track(feature="exit")
        def answer(prompt: str) -> str:
            return prompt

        for i in range(50):
            answer(f"q{{i}}")
        promptloop.feedback(promptloop.last_interaction_id(), "thumbs_up")
        # No flush(): the atexit hook must deliver everything.
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    interactions = collector.interactions()
    assert sorted(r["user_input"] for r in interactions) == sorted(f"q{i}" for i in range(50))
    [event] = collector.feedback()
    FeedbackEvent.model_validate(event)
    assert event["interaction_id"] == interactions[-1]["interaction_id"]
