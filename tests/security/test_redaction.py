"""Privacy in the SDK: redaction before data leaves the app, and keyed user-ID hashes.

What the collector receives is recorded by real HTTP servers on 127.0.0.1: the recording
collector (the bodies as sent) and promptloop's own collector (what ends up stored).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st

import promptloop
from promptloop.exceptions import ConfigError
from promptloop.sdk import guard
from promptloop.sdk.config import resolve_settings
from promptloop.sdk.redact import BUILT_INS, Redactor, luhn_valid
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import open_store
from tests.support.recording_collector import RecordingCollector

EMAIL = "dana.scully@fbi.example.org"
PHONE = "+1 (202) 555-0143"
CARD = "4539 1488 0343 6467"  # passes Luhn
NOT_A_CARD = "4539 1488 0343 6468"  # fails Luhn: left alone
RAW_USER = "dana-4471"
SECRET_WORD = "PROJECT-BLUEBOOK"
SECRETS = (EMAIL, PHONE, CARD, RAW_USER, SECRET_WORD, "5550143", "4539148803436467")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("PROMPTLOOP_URL", "PROMPTLOOP_API_KEY", "PROMPTLOOP_HASH_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield
    promptloop.shutdown(timeout=5)
    guard.set_strict(False)


def _pii(label: str) -> str:
    return f"{label}: write to {EMAIL}, call {PHONE}, card {CARD}, ref {NOT_A_CARD}, {SECRET_WORD}"


def _send_everything(url: str, tmp_path: Path, **options: Any) -> tuple[str, list[str]]:
    """Log an interaction and two feedback events full of PII; return the IDs."""
    threads: list[str] = []

    def custom(text: str) -> str:
        threads.append(threading.current_thread().name)
        return text.replace(SECRET_WORD, "[CODENAME]")

    promptloop.init(
        url,
        api_key="k",
        hash_key="hash-key",
        strict=True,
        flush_interval=60.0,
        spool_dir=tmp_path / "spool",
        redact=[True, custom],
        **options,
    )
    interaction_id = str(uuid.uuid4())
    promptloop.Logger().log(
        {
            "interactionId": interaction_id,
            "userId": RAW_USER,
            "feature": "support",
            "systemPrompt": _pii("system"),
            "userInput": _pii("input"),
            "rawOutput": _pii("output"),
            "metadata": {"contact": {"emails": [EMAIL], "note": _pii("note")}, "n": 3},
        }
    )
    promptloop.feedback(interaction_id, "edit", user_edit=_pii("edit"), comment=_pii("comment"))
    promptloop.feedback(
        interaction_id, "thumbs_down", category="wrong", metadata={"why": _pii("meta")}
    )
    assert promptloop.flush(timeout=10)
    return interaction_id, threads


def test_redacted_values_never_reach_the_collector(tmp_path: Path) -> None:
    with RecordingCollector() as collector:
        _, threads = _send_everything(collector.url, tmp_path)
        bodies = json.dumps([request.records for request in collector.requests])
        assert len(collector.interactions()) == 1 and len(collector.feedback()) == 2
    for secret in SECRETS:
        assert secret not in bodies, secret
    [record] = collector.interactions()
    assert "[EMAIL]" in record["user_input"] and "[PHONE]" in record["raw_output"]
    assert "[CARD]" in record["system_prompt"] and NOT_A_CARD in record["user_input"]
    assert record["metadata"]["contact"]["emails"] == ["[EMAIL]"]
    assert record["metadata"]["n"] == 3
    assert (
        record["user_id"]
        == "u_" + hmac.new(b"hash-key", RAW_USER.encode(), hashlib.sha256).hexdigest()[:32]
    )
    # The rules ran on the SDK's sender thread, never on the thread that logged.
    assert threads and set(threads) == {"promptloop-transport"}


def test_redacted_values_are_never_stored_by_the_real_collector(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/store.duckdb")
    settings_ = Settings(
        store_url=store.url,
        data_dir=tmp_path / "data",
        api_keys=frozenset({"k"}),
        signals_interval=0,
        alerts_interval=0,
        fsync=False,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings_, store=store), log_level="warning", lifespan="on")
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        interaction_id, _ = _send_everything(url, tmp_path)
        promptloop.shutdown(timeout=5)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    rows = store.fetch_all("SELECT * FROM llm_interaction_logs") + store.fetch_all(
        "SELECT * FROM feedback_events"
    )
    store.close()
    assert len(rows) == 3 and rows[0]["interaction_id"] == interaction_id
    stored = json.dumps(rows, default=str)
    for secret in SECRETS:
        assert secret not in stored, secret
    wal = "".join(
        path.read_bytes().decode("utf-8", "replace")
        for path in (tmp_path / "data").rglob("*")
        if path.is_file()
    )
    for secret in SECRETS:
        assert secret not in wal, secret


def test_a_failing_rule_drops_the_record_instead_of_sending_it(tmp_path: Path) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("rule bug")

    with RecordingCollector() as collector:
        client = promptloop.init(
            collector.url,
            hash_key="h",
            flush_interval=60.0,
            spool_dir=tmp_path / "spool",
            redact=broken,
        )
        promptloop.Logger().log({"userInput": _pii("input")})
        assert promptloop.flush(timeout=10)
        assert collector.requests == []
        assert client.stats()["failed"] == 1


def test_redaction_is_off_by_default_and_bad_rules_are_refused() -> None:
    assert resolve_settings("http://127.0.0.1:1").redact is None
    assert resolve_settings("http://127.0.0.1:1", redact=False).redact is None
    with pytest.raises(ConfigError, match="redact"):
        resolve_settings("http://127.0.0.1:1", redact="(unclosed")
    with pytest.raises(ConfigError, match="redact"):
        resolve_settings("http://127.0.0.1:1", redact=42)


# -- the rules, property-based --------------------------------------------------------------
REDACTOR = Redactor(BUILT_INS.values())
_FILLER = st.text(alphabet=st.characters(categories=("L", "Zs"), max_codepoint=0x24F), max_size=30)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid 13 to 19 digit number, grouped with spaces or dashes or not at all."""
    length = draw(st.integers(13, 19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    check = next(d for d in "0123456789" if luhn_valid(body + d))
    digits = body + check
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@settings(max_examples=60, deadline=None)
@given(before=_FILLER, card=card_numbers(), after=_FILLER)
def test_every_luhn_valid_card_number_is_redacted(before: str, card: str, after: str) -> None:
    redacted = REDACTOR.text(f"{before} {card} {after}")
    assert re.sub(r"\D", "", card) not in re.sub(r"\D", "", redacted)


@settings(max_examples=60, deadline=None)
@given(before=_FILLER, address=st.emails(), after=_FILLER)
def test_every_email_is_redacted(before: str, address: str, after: str) -> None:
    assert address not in REDACTOR.text(f"{before} {address} {after}")


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_redaction_is_idempotent_and_leaves_plain_words_alone(text: str) -> None:
    once = REDACTOR.text(text)
    assert REDACTOR.text(once) == once
    if not re.search(r"[\d@]", text):
        assert once == text


def test_phone_numbers_and_what_is_not_one() -> None:
    for phone in ("+44 20 7946 0958", "(020) 7946 0958", "555-123-4567", "+49 30 901820"):
        assert REDACTOR.text(f"call {phone} today") == "call [PHONE] today"
    for other in ("2026-11-27 12:00", "27/11/2026", "v1.2.3", "order 12345", NOT_A_CARD):
        assert REDACTOR.text(other) == other
