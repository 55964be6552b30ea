"""The one protocol every storage backend implements.

Analytics, signals, evals and the server talk to storage only through :class:`Store`, so a
backend is swapped by URL (``duckdb:///path``, ``postgresql://...``) and one conformance
suite (``tests/store/``) holds every backend to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from promptloop.core.records import FeedbackEvent, Interaction

INTERACTIONS_TABLE = "llm_interaction_logs"
FEEDBACK_TABLE = "feedback_events"


@runtime_checkable
class Store(Protocol):
    """A queryable home for interactions and feedback events.

    SQL passed to :meth:`fetch_all` and :meth:`execute` uses ``:name`` placeholders; each
    backend converts them to its driver's style.
    """

    dialect: str
    url: str

    def migrate(self) -> int:
        """Apply pending schema migrations; return the schema version now in force."""
        ...

    def schema_version(self) -> int: ...

    def insert_interactions(self, items: Sequence[Interaction]) -> int:
        """Store interactions, skipping IDs already present; return how many were new."""
        ...

    def insert_feedback(self, items: Sequence[FeedbackEvent]) -> int:
        """Store feedback events, skipping IDs already present; return how many were new."""
        ...

    def insert_rows(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Bulk-insert plain rows (same keys in each), skipping primary keys already present."""
        ...

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query and return its rows as dicts keyed by column name."""
        ...

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows, in its own transaction."""
        ...

    def transaction(self, statements: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Run several statements atomically: all take effect or none does."""
        ...

    def close(self) -> None: ...
