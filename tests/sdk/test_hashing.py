"""User IDs are HMAC-hashed with a key from init, env, the API key or a generated file."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from pathlib import Path

import pytest

import promptloop
from promptloop.sdk.hashing import UserHasher, is_hashed, load_or_create_key_file


def expected(key: str, raw: str) -> str:
    return "u_" + hmac.new(key.encode(), raw.encode(), hashlib.sha256).hexdigest()[:32]


def test_hash_format_and_stability() -> None:
    hasher = UserHasher("k")
    hashed = hasher.hash("alice")
    assert hashed == expected("k", "alice") == hasher.hash("alice")
    assert is_hashed(hashed) and not is_hashed("alice")
    assert hasher.hash(hashed) == hashed  # already-hashed IDs are not hashed twice
    assert UserHasher("other").hash("alice") != hashed


def test_key_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    promptloop.init(enabled=False, hash_key="explicit", api_key="api")
    assert promptloop.hash_user_id("u") == expected("explicit", "u")
    monkeypatch.setenv("PROMPTLOOP_HASH_KEY", "from-env")
    promptloop.init(enabled=False, api_key="api")
    assert promptloop.hash_user_id("u") == expected("from-env", "u")
    monkeypatch.delenv("PROMPTLOOP_HASH_KEY")
    promptloop.init(enabled=False, api_key="api")
    assert promptloop.hash_user_id("u") == expected("api", "u")


def test_generated_key_file(tmp_path: Path) -> None:
    promptloop.init(enabled=False)
    hashed = promptloop.hash_user_id("u")
    key_file = Path(os.environ["HOME"]) / ".promptloop" / "hash_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert hashed == expected(key, "u")
    # Generated once: the next process (here: the next client) reuses it.
    promptloop.init(enabled=False)
    assert promptloop.hash_user_id("u") == hashed
    assert load_or_create_key_file(key_file) == key
