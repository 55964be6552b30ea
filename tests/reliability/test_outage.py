"""Collector outages: the host app never notices, and nothing is lost or duplicated.

Ten simulated minutes of traffic (600 simulated seconds of 10 calls each; the sender
flushes once per simulated minute) run against a collector that is down, then it comes
back. The long version (``make reliability``, ``benchmarks/reliability.py``) runs an hour
of simulated traffic and measures the host's added latency during the outage.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import promptloop
from promptloop.sdk import guard
from tests.reliability.scenarios import outage_figures
from tests.support.recording_collector import RecordingCollector

MINUTES = 10
CALLS_PER_SECOND = 10


@pytest.fixture
def host_thread_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records network connects and fsyncs made on the calling (host) thread."""
    host = threading.get_ident()
    seen: list[str] = []
    real_connect = socket.socket.connect
    real_fsync = os.fsync

    def connect(self: socket.socket, address: Any) -> None:
        if threading.get_ident() == host:
            seen.append(f"connect {address}")
        real_connect(self, address)

    def fsync(fd: int) -> None:
        if threading.get_ident() == host:
            seen.append("fsync")
        real_fsync(fd)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(os, "fsync", fsync)
    yield seen


def _client(url: str, spool: Path, **overrides: Any) -> promptloop.Client:
    options: dict[str, Any] = {
        "hash_key": "k",
        "strict": False,  # as in production: internal errors are counted, never raised
        "flush_interval": 3600.0,  # the test decides when the sender runs (once a "minute")
        "spool_dir": spool,
        "max_attempts": 2,
        "retry_backoff": 0.001,
        "retry_cooldown": 0.0,
        **overrides,
    }
    return promptloop.init(url, **options)


@promptloop.track(feature="outage", prompt_version="v1")
def answer(question: str) -> str:
    return question[::-1]


def _traffic(client: promptloop.Client, minutes: int, label: str) -> list[str]:
    ids: list[str] = []
    for minute in range(minutes):
        for second in range(60):
            for n in range(CALLS_PER_SECOND):
                with promptloop.context(session_id=f"s{second % 7}", user_id=f"u{n}"):
                    answer(f"{label} {minute}:{second}:{n}")
                ids.append(promptloop.last_interaction_id() or "")
        assert client.flush(timeout=60)  # the sender's round for this "minute"
    return ids


def test_ten_minutes_down_then_every_event_arrives_exactly_once(
    tmp_path: Path, host_thread_io: list[str]
) -> None:
    errors_before = guard.internal_error_count()
    with RecordingCollector() as collector:
        client = _client(collector.url, tmp_path / "spool")
        collector.down()
        during = _traffic(client, MINUTES, "down")  # no exception reaches the host
        stats = client.stats()
        assert stats["sent"] == 0 and stats["dropped"] == 0
        assert stats["spooled"] == len(during) == MINUTES * 60 * CALLS_PER_SECOND
        assert stats["pending"] == 0  # memory: nothing piles up in the queue

        collector.up()
        after = _traffic(client, 1, "back")
        assert client.flush(timeout=60)
        arrived = Counter(record["interaction_id"] for record in collector.interactions())
        assert set(arrived) == set(during) | set(after)
        assert max(arrived.values()) == 1  # exactly once
        assert client.stats()["replayed"] == len(during)
        assert not list((tmp_path / "spool").rglob("*.jsonl"))
        promptloop.shutdown(timeout=10)
    assert guard.internal_error_count() == errors_before
    assert host_thread_io == []  # the host thread never touched the network or the disk


def test_a_full_spool_drops_the_oldest_events_counts_and_reports_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with RecordingCollector() as collector:
        client = _client(collector.url, tmp_path / "spool", max_spool_bytes=400_000)
        collector.down()
        with caplog.at_level(logging.ERROR, logger="promptloop"):
            ids = _traffic(client, 5, "down")
        stats = client.stats()
        assert stats["spool_evicted"] > 0
        assert stats["dropped"] == stats["spool_evicted"]
        assert "dropped its oldest" in caplog.text
        spool_bytes = sum(p.stat().st_size for p in (tmp_path / "spool").rglob("*.jsonl"))
        assert spool_bytes <= 400_000

        collector.up()
        assert client.flush(timeout=60)
        arrived = [record["interaction_id"] for record in collector.interactions()]
        assert len(arrived) == len(set(arrived)) == len(ids) - stats["spool_evicted"]
        # What survived is the newest traffic: the lost events are all older than it.
        newest = ids[len(ids) - len(arrived) :]
        assert set(arrived) == set(newest)
        promptloop.shutdown(timeout=10)


@pytest.mark.reliability
def test_an_hour_down_is_survived_with_zero_loss_and_the_host_latency_in_budget(
    tmp_path: Path,
) -> None:
    figures = outage_figures(tmp_path, minutes=60)
    assert figures["exceptions_in_host"] == 0, figures
    assert figures["lost"] == 0 and figures["duplicates"] == 0, figures
    assert figures["spool_evicted"] == 0, figures
