"""SDK settings: explicit ``init()`` arguments first, then environment variables, then defaults.

| setting        | env var                | default                                  |
|----------------|------------------------|------------------------------------------|
| url            | PROMPTLOOP_URL         | http://127.0.0.1:8321                    |
| api_key        | PROMPTLOOP_API_KEY     | none                                     |
| hash_key       | PROMPTLOOP_HASH_KEY    | api_key, else ~/.promptloop/hash_key     |
| enabled        | PROMPTLOOP_ENABLED     | true (``0``/``false``/``no`` disables)   |
| spool_dir      | PROMPTLOOP_SPOOL_DIR   | ~/.promptloop/spool/<url-hash>/          |
| feedback_secret| PROMPTLOOP_FEEDBACK_SECRET | api_key (signs browser feedback tokens) |
| prompt_cache_ttl | PROMPTLOOP_PROMPT_CACHE_TTL | 60 seconds                          |
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptloop.exceptions import ConfigError
from promptloop.sdk.redact import Redactor

DEFAULT_URL = "http://127.0.0.1:8321"
ENV_URL = "PROMPTLOOP_URL"
ENV_API_KEY = "PROMPTLOOP_API_KEY"
ENV_HASH_KEY = "PROMPTLOOP_HASH_KEY"
ENV_ENABLED = "PROMPTLOOP_ENABLED"
ENV_SPOOL_DIR = "PROMPTLOOP_SPOOL_DIR"
ENV_FEEDBACK_SECRET = "PROMPTLOOP_FEEDBACK_SECRET"
ENV_PROMPT_CACHE_TTL = "PROMPTLOOP_PROMPT_CACHE_TTL"

_FALSY = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """Resolved client settings. Build with :func:`resolve_settings`."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    hash_key: str | None = None
    strict: bool = False
    enabled: bool = True
    max_queue: int = 10_000
    batch_size: int = 500
    flush_interval: float = 1.0
    spool_dir: Path | None = None
    timeout: float = 5.0
    feature: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    max_attempts: int = 3
    retry_backoff: float = 0.25
    max_retry_delay: float = 10.0
    retry_cooldown: float = 5.0
    shutdown_timeout: float = 2.0
    max_body_bytes: int = 4_000_000
    max_spool_bytes: int = 200_000_000
    feedback_secret: str | None = None
    prompt_cache_ttl: float = 60.0
    # Redaction rules applied before records leave the app (sdk/redact.py); None: off.
    redact: Redactor | None = None

    def resolved_spool_dir(self) -> Path:
        """Where batches that could not be delivered are kept, one folder per collector URL."""
        base = self.spool_dir if self.spool_dir is not None else promptloop_home() / "spool"
        return base / url_hash(self.url)


def promptloop_home() -> Path:
    return Path.home() / ".promptloop"


def url_hash(url: str) -> str:
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


def env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in _FALSY


def resolve_settings(
    url: str | None = None,
    api_key: str | None = None,
    *,
    hash_key: str | None = None,
    enabled: bool | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Settings:
    """Merge explicit arguments with the environment and check them.

    >>> resolve_settings("http://collector:8321", batch_size=100).batch_size
    100
    """
    resolved_url = (url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")
    if not resolved_url.startswith(("http://", "https://")):
        raise ConfigError(f"promptloop url must start with http:// or https://, got {url!r}")
    key = api_key if api_key is not None else os.environ.get(ENV_API_KEY) or None
    hkey = hash_key if hash_key is not None else os.environ.get(ENV_HASH_KEY) or None
    on = enabled if enabled is not None else env_flag(ENV_ENABLED, True)
    spool_env = os.environ.get(ENV_SPOOL_DIR)
    spool = Path(spool_dir) if spool_dir is not None else (Path(spool_env) if spool_env else None)
    metadata = options.pop("metadata", None) or {}
    if options.get("feedback_secret") is None and os.environ.get(ENV_FEEDBACK_SECRET):
        options["feedback_secret"] = os.environ[ENV_FEEDBACK_SECRET]
    if "prompt_cache_ttl" not in options and os.environ.get(ENV_PROMPT_CACHE_TTL):
        options["prompt_cache_ttl"] = float(os.environ[ENV_PROMPT_CACHE_TTL])
    if "redact" in options:
        options["redact"] = Redactor.from_spec(options["redact"])
    settings = Settings(
        url=resolved_url,
        api_key=key,
        hash_key=hkey,
        enabled=on,
        spool_dir=spool,
        metadata=dict(metadata),
        **options,
    )
    _check(settings)
    return settings


def _check(s: Settings) -> None:
    if s.max_queue < 1:
        raise ConfigError("max_queue must be at least 1")
    if s.batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    if s.flush_interval <= 0:
        raise ConfigError("flush_interval must be positive")
    if s.max_attempts < 1:
        raise ConfigError("max_attempts must be at least 1")
    if s.timeout <= 0:
        raise ConfigError("timeout must be positive")
