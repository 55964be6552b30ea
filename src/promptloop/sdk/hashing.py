"""Pseudonymous user IDs: HMAC-SHA256 of the raw ID, so raw IDs never leave the process.

The key comes from ``init(hash_key=...)``, else ``PROMPTLOOP_HASH_KEY``, else the API key,
else a random key generated once per machine and kept in ``~/.promptloop/hash_key``
(mode 0600). The same key always maps the same user to the same ID, which is what lets
the collector group a user's interactions without ever seeing who they are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from pathlib import Path

from promptloop.sdk.config import promptloop_home

PREFIX = "u_"
_HASHED = re.compile(r"^u_[0-9a-f]{32}$")
_CACHE_MAX = 4096


def is_hashed(value: str) -> bool:
    """True for IDs already produced by :func:`hash_user_id` (they are not hashed twice)."""
    return len(value) == 34 and _HASHED.match(value) is not None


def load_or_create_key_file(path: Path | None = None) -> str:
    """Read the machine's hash key, creating it (mode 0600) on first use."""
    path = path or promptloop_home() / "hash_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32)
    try:
        # O_EXCL: when two processes race, exactly one writes and both read its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class UserHasher:
    """Maps raw user IDs to ``u_<32 hex>``; the key is resolved on first use and results cached.

    >>> UserHasher("k").hash("alice") == UserHasher("k").hash("alice")
    True
    """

    def __init__(self, key: str | None = None) -> None:
        self._key: bytes | None = key.encode() if key else None
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def _resolve_key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = load_or_create_key_file().encode()
            return self._key

    def hash(self, raw: str) -> str:
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        if is_hashed(raw):
            return raw
        key = self._key or self._resolve_key()
        digest = hmac.new(key, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        hashed = PREFIX + digest[:32]
        if len(self._cache) >= _CACHE_MAX:
            # Cheap bound instead of a true LRU: the working set of active users is small.
            self._cache.clear()
        self._cache[raw] = hashed
        return hashed
