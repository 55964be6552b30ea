"""Collector settings, from arguments or ``PROMPTLOOP_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from promptloop.analytics.alerts.rules import AlertSettings
from promptloop.signals.rules import SignalSettings
from promptloop.store import default_store_url
from promptloop.store.retention import parse_rules


def _list_from_env(name: str) -> frozenset[str]:
    raw = os.environ.get(name, "")
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


def _keys_from_env() -> frozenset[str]:
    return _list_from_env("PROMPTLOOP_API_KEYS")


def _flag_from_env(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _retention_from_env() -> dict[str, int]:
    return parse_rules(os.environ.get("PROMPTLOOP_RETENTION") or None)


@dataclass(frozen=True)
class Settings:
    """Everything the collector needs to run.

    ``api_keys`` empty means no authentication (fine on 127.0.0.1, not on a network).
    """

    store_url: str = field(default_factory=default_store_url)
    api_keys: frozenset[str] = field(default_factory=_keys_from_env)
    # Scoped keys from settings (docs/security.md); ``api_keys`` above are admin keys. Keys
    # created with ``promptloop keys create`` live hashed in the store instead.
    ingest_api_keys: frozenset[str] = field(
        default_factory=lambda: _list_from_env("PROMPTLOOP_INGEST_API_KEYS")
    )
    read_api_keys: frozenset[str] = field(
        default_factory=lambda: _list_from_env("PROMPTLOOP_READ_API_KEYS")
    )
    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("PROMPTLOOP_DATA_DIR", ".promptloop"))
    )
    flush_interval: float = 0.5
    flush_rows: int = 5_000
    # Ingest bounds (docs/reliability.md): records waiting for the store (count and request
    # bytes) before POSTs get 503, and requests read/validated at once before they get 429.
    max_pending_rows: int = 100_000
    max_pending_bytes: int = 128 * 1024 * 1024
    max_concurrent_ingest: int = 8
    max_body_bytes: int = 32 * 1024 * 1024
    fsync: bool = True
    # Seconds between runs of the signal inference job; 0 turns the schedule off.
    signals_interval: float = 60.0
    signals: SignalSettings = field(default_factory=SignalSettings)
    # Alerts on rising rates (docs/alerts.md): seconds between checks (0 turns the schedule
    # off), the rules and their evidence requirements, and a webhook told of each new alert.
    alerts_interval: float = field(
        default_factory=lambda: float(os.environ.get("PROMPTLOOP_ALERTS_INTERVAL") or 300)
    )
    alerts: AlertSettings = field(default_factory=AlertSettings)
    alert_webhook_url: str | None = field(
        default_factory=lambda: os.environ.get("PROMPTLOOP_ALERT_WEBHOOK") or None
    )
    # Browser feedback (POST /v1/feedback/{token}, /widget.js). Tokens are verified against
    # a key derived from each API key and each feedback secret; with neither configured the
    # collector generates one secret and keeps it in <data_dir>/feedback_secret.
    feedback_secrets: frozenset[str] = field(
        default_factory=lambda: _list_from_env("PROMPTLOOP_FEEDBACK_SECRET")
    )
    # Origins (scheme://host[:port]) whose pages may post feedback; "*" allows any. Empty
    # means same-origin only. Applies to /v1/feedback/{token} and /widget.js, nothing else.
    cors_origins: frozenset[str] = field(
        default_factory=lambda: _list_from_env("PROMPTLOOP_CORS_ORIGINS")
    )
    feedback_rate_per_minute: int = 30
    feedback_max_body_bytes: int = 16 * 1024
    # The simulated demo chat at /demo (``promptloop serve --demo`` turns it on).
    demo_enabled: bool = field(default_factory=lambda: _flag_from_env("PROMPTLOOP_DEMO_ENABLED"))
    # The dashboard at / asks for a login when this or ``api_keys`` is set (either works as
    # the password). Its session cookie is signed with ``dashboard_secret``; when that is
    # empty the collector generates one and keeps it in <data_dir>/dashboard_secret.
    dashboard_password: str | None = field(
        default_factory=lambda: os.environ.get("PROMPTLOOP_DASHBOARD_PASSWORD") or None,
        repr=False,
    )
    dashboard_secret: str | None = field(
        default_factory=lambda: os.environ.get("PROMPTLOOP_DASHBOARD_SECRET") or None,
        repr=False,
    )
    # Hours a dashboard login lasts at most, and minutes without a request that end it.
    dashboard_session_hours: float = 12.0
    dashboard_idle_minutes: float = 30.0
    # Retention (docs/retention.md): days each table keeps its rows, from e.g.
    # PROMPTLOOP_RETENTION="interactions=90,feedback=365"; empty keeps everything. Applied
    # every ``retention_interval`` seconds (0 turns the schedule off).
    retention: dict[str, int] = field(default_factory=_retention_from_env)
    retention_interval: float = field(
        default_factory=lambda: float(os.environ.get("PROMPTLOOP_RETENTION_INTERVAL") or 3600)
    )
    # User IDs in OTLP spans arrive raw; with this key (the SDK's PROMPTLOOP_HASH_KEY) the
    # collector hashes them exactly as the SDK does, so both paths name a user the same.
    otlp_hash_key: str | None = field(
        default_factory=lambda: os.environ.get("PROMPTLOOP_HASH_KEY") or None, repr=False
    )

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"
