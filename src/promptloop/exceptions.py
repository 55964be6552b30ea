"""Every error promptloop raises on purpose derives from :class:`PromptloopError`.

    PromptloopError
    ├── ConfigError            bad settings: an unknown store URL, a missing key
    ├── StoreError             the storage engine failed (driver errors are converted here)
    │   └── StoreLockedError   the embedded store is owned by another process
    └── ClientError            a call to the collector's HTTP API failed
"""

from __future__ import annotations


class PromptloopError(Exception):
    """Root of promptloop's own errors."""


class ConfigError(PromptloopError):
    """A setting is missing or invalid."""


class StoreError(PromptloopError):
    """The storage engine reported an error."""


class StoreLockedError(StoreError):
    """The embedded DuckDB file is held by another process."""


class ClientError(PromptloopError):
    """The collector answered with an error, or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
