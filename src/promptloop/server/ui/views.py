"""Saved views of the interactions explorer: a name and a query string, kept server-side.

Stored in ``<data_dir>/dashboard_views.json`` (one small JSON file, written atomically)
until a table exists for them. Every dashboard user sees the same views.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

FILE = "dashboard_views.json"
MAX_VIEWS = 200
MAX_NAME = 80
# Only explorer parameters are kept (never a cursor).
KEPT = (
    "q",
    "feature",
    "prompt_name",
    "prompt_version",
    "feedback_type",
    "feedback_source",
    "category",
    "session_id",
    "model",
    "range",
    "since",
    "until",
)


class SavedViews:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE
        self._lock = threading.Lock()

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._read()

    def _read(self) -> list[dict[str, Any]]:
        try:
            items = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [item for item in items if isinstance(item, dict) and "id" in item]

    def _write(self, items: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.parent / f".{FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        temp.write_text(json.dumps(items, indent=1))
        temp.replace(self.path)

    def add(self, name: str, query: str) -> dict[str, Any]:
        name = " ".join(name.split())[:MAX_NAME]
        if not name:
            raise ValueError("a saved view needs a name")
        kept = [(k, v) for k, v in parse_qsl(query.lstrip("?")) if k in KEPT and v]
        view = {
            "id": secrets.token_hex(6),
            "name": name,
            "query": urlencode(kept),
            "created_at": datetime.now(UTC).isoformat(),
        }
        with self._lock:
            items = [item for item in self._read() if item["name"] != name]
            items.append(view)
            self._write(items[-MAX_VIEWS:])
        return view

    def delete(self, view_id: str) -> bool:
        with self._lock:
            items = self._read()
            kept = [item for item in items if item["id"] != view_id]
            if len(kept) == len(items):
                return False
            self._write(kept)
            return True
