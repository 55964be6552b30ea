"""Small helpers shared by the eval modules: JSON columns, IDs, time."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from promptloop.core.records import as_utc


def dumps(value: Any) -> str | None:
    """A JSON column's value (``None`` stays SQL NULL)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def loads(value: Any) -> Any:
    """A JSON column as read back: backends return text or already-decoded values."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def stable_id(*parts: Any, length: int = 16) -> str:
    """A short deterministic ID from its parts: the same inputs always give the same ID."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return digest[:length]


def iso(value: Any) -> Any:
    return as_utc(value).isoformat() if isinstance(value, datetime) else value


def plain(row: dict[str, Any], json_columns: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row with JSON columns decoded and datetimes as ISO-8601 strings."""
    return {key: loads(value) if key in json_columns else iso(value) for key, value in row.items()}
