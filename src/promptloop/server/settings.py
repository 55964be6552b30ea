"""Collector settings, from arguments or ``PROMPTLOOP_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from promptloop.signals.rules import SignalSettings
from promptloop.store import default_store_url


def _keys_from_env() -> frozenset[str]:
    raw = os.environ.get("PROMPTLOOP_API_KEYS", "")
    return frozenset(key.strip() for key in raw.split(",") if key.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the collector needs to run.

    ``api_keys`` empty means no authentication (fine on 127.0.0.1, not on a network).
    """

    store_url: str = field(default_factory=default_store_url)
    api_keys: frozenset[str] = field(default_factory=_keys_from_env)
    data_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("PROMPTLOOP_DATA_DIR", ".promptloop"))
    )
    flush_interval: float = 0.5
    flush_rows: int = 5_000
    max_pending_rows: int = 500_000
    max_body_bytes: int = 32 * 1024 * 1024
    fsync: bool = True
    # Seconds between runs of the signal inference job; 0 turns the schedule off.
    signals_interval: float = 60.0
    signals: SignalSettings = field(default_factory=SignalSettings)

    @property
    def wal_dir(self) -> Path:
        return self.data_dir / "wal"
