"""SDK fixtures: a recording collector and a strict client pointed at it.

The client's sender thread only wakes on ``flush()`` (a long ``flush_interval``), so tests
decide when batches go out; retries use tiny backoffs and no cool-down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import promptloop
from promptloop.sdk import guard
from tests.support.recording_collector import RecordingCollector

Init = Callable[..., promptloop.Client]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Hash keys and spools default to ~/.promptloop: never touch the real home directory.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "PROMPTLOOP_URL",
        "PROMPTLOOP_API_KEY",
        "PROMPTLOOP_HASH_KEY",
        "PROMPTLOOP_ENABLED",
        "PROMPTLOOP_SPOOL_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    yield
    promptloop.shutdown(timeout=5)
    guard.set_strict(False)


@pytest.fixture
def collector() -> Iterator[RecordingCollector]:
    with RecordingCollector() as running:
        yield running


@pytest.fixture
def make_client(collector: RecordingCollector, tmp_path: Path) -> Iterator[Init]:
    """``make_client(**overrides)`` initialises promptloop against the collector."""
    before = guard.internal_error_count()
    expect_internal_errors: list[bool] = [False]

    def make(**overrides: Any) -> promptloop.Client:
        if overrides.pop("expect_internal_errors", False):
            expect_internal_errors[0] = True
        options: dict[str, Any] = {
            "url": collector.url,
            "api_key": "test-api-key",
            "hash_key": "test-hash-key",
            "strict": True,
            "flush_interval": 60.0,
            "spool_dir": tmp_path / "spool",
            "retry_backoff": 0.001,
            "retry_cooldown": 0.0,
            "timeout": 5.0,
        }
        options.update(overrides)
        return promptloop.init(**options)

    yield make
    promptloop.shutdown(timeout=5)
    if not expect_internal_errors[0]:
        assert guard.internal_error_count() == before, "unexpected SDK internal errors"


@pytest.fixture
def client(make_client: Init) -> promptloop.Client:
    return make_client()
