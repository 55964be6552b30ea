"""An on-disk cache of provider responses, so re-running an evaluation costs nothing.

A response is stored under the sha256 of everything that can change it: the provider's
identity (its id plus the configuration that reaches the model, never its secrets), the
rendered prompt, the variables and the call settings. One JSON file per entry, written
atomically (temporary file + rename), so concurrent runs and crashes never leave a torn entry.
Only successful responses are cached; a repeat index above zero never reads or writes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from promptloop.evals.types import ProviderRequest, ProviderResponse

CACHE_FORMAT = 1


def cache_key(identity: Mapping[str, Any], request: ProviderRequest) -> str:
    """The sha256 hex digest naming one (provider, prompt, vars, settings) combination."""
    material = {
        "format": CACHE_FORMAT,
        "provider": identity,
        "prompt": request.prompt,
        "vars": request.vars,
        "settings": request.settings,
    }
    encoded = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class ResponseCache:
    """Responses on disk under ``directory/<2 hex>/<sha256>.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> ProviderResponse | None:
        """The stored response marked ``cached=True``, or None (a corrupt entry is a miss)."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            response = ProviderResponse(**{**data["response"], "cached": True})
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return response

    def put(self, key: str, response: ProviderResponse) -> None:
        """Store a successful response; errors are never cached."""
        if response.error is not None:
            return
        body = asdict(response)
        body["cached"] = False
        body["raw"] = None  # the provider's raw object is not JSON-safe and not needed later
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"format": CACHE_FORMAT, "response": body}, default=str)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(payload)
            Path(temporary).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            raise

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        removed = 0
        for entry in self.directory.glob("*/*.json"):
            entry.unlink(missing_ok=True)
            removed += 1
        return removed
