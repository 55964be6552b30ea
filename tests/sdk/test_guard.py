"""The SDK never raises into the host unless strict; internal errors are counted."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import promptloop
from promptloop.sdk import call as call_module
from promptloop.sdk import guard
from tests.support.recording_collector import RecordingCollector


def _broken_output_text(value: Any) -> str:
    raise RuntimeError("bug inside the SDK")


@promptloop.track(feature="guarded")
def returns_object(prompt: str) -> object:
    return {"not": "a string"}


def test_bug_is_swallowed_and_counted_when_not_strict(
    make_client: Any,
    collector: RecordingCollector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(strict=False, expect_internal_errors=True)
    monkeypatch.setattr(call_module, "output_text", _broken_output_text)
    before = client.stats()["internal_errors"]
    with caplog.at_level(logging.WARNING, logger="promptloop"):
        assert returns_object("x") == {"not": "a string"}
    assert client.stats()["internal_errors"] == before + 1
    assert "bug inside the SDK" in caplog.text


def test_bug_is_raised_when_strict(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_client(strict=True, expect_internal_errors=True)
    monkeypatch.setattr(call_module, "output_text", _broken_output_text)
    with pytest.raises(RuntimeError, match="bug inside the SDK"):
        returns_object("x")


def test_host_exceptions_are_not_swallowed(make_client: Any) -> None:
    make_client(strict=False)

    @promptloop.track()
    def fails(prompt: str) -> str:
        raise ValueError("host bug")

    with pytest.raises(ValueError, match="host bug"):
        fails("x")


def test_invalid_feedback(make_client: Any, collector: RecordingCollector) -> None:
    client = make_client(strict=False, expect_internal_errors=True)
    before = client.stats()["internal_errors"]
    assert promptloop.feedback("not-a-uuid", "thumbs_up") is None
    assert promptloop.feedback("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "love_it") is None
    assert promptloop.feedback("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "rating") is None
    assert promptloop.feedback("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "edit") is None
    assert client.stats()["internal_errors"] == before + 4
    assert client.flush(timeout=10)
    assert collector.requests == []

    guard.set_strict(True)
    with pytest.raises(ValueError, match="unknown feedback type"):
        promptloop.feedback("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "love_it")


def test_bad_configuration(tmp_path: Any) -> None:
    before = guard.internal_error_count()
    client = promptloop.init("ftp://nowhere", strict=False, spool_dir=tmp_path)
    assert not client.enabled
    assert guard.internal_error_count() == before + 1
    with pytest.raises(promptloop.PromptloopError):
        promptloop.init("ftp://nowhere", strict=True)


def test_guard_context_manager_and_decorator() -> None:
    guard.set_strict(False)
    before = guard.internal_error_count()
    with guard.GUARD:
        raise KeyError("swallowed")

    @guard.guarded(default="fallback")
    def entry() -> str:
        raise RuntimeError("swallowed too")

    assert entry() == "fallback"
    assert guard.internal_error_count() == before + 2
    with pytest.raises(KeyboardInterrupt), guard.GUARD:
        raise KeyboardInterrupt
