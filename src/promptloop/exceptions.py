"""Every error promptloop raises on purpose derives from :class:`PromptloopError`.

PromptloopError
├── ConfigError            bad settings: an unknown store URL, a missing key
├── StoreError             the storage engine failed (driver errors are converted here)
│   ├── StoreLockedError   the embedded store is owned by another process
│   └── ConstraintViolation  a unique or primary key was violated
├── NotFoundError          a named thing (prompt, version, label) does not exist
├── ConflictError          the request contradicts what is stored
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


class ConstraintViolation(StoreError):
    """A write broke a unique or primary-key constraint."""


class NotFoundError(PromptloopError):
    """A named object does not exist."""


class ConflictError(PromptloopError):
    """The request contradicts stored state (e.g. a version number already taken)."""


class ClientError(PromptloopError):
    """The collector answered with an error, or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
