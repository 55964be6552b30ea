"""Retention and per-user deletion, in plain SQL through the :class:`Store` protocol.

Both are driven by two registries, so a module that adds a table holding user data adds
one line here (or calls :func:`register_linked_table` / :func:`register_retention`):

- :data:`LINKED_TABLES`: tables whose rows belong to an interaction (feedback, edit
  analyses, cluster members, the signal rollup, review items and labels, eval items built
  from real interactions and the results of running them). Deleting an interaction, for a
  user or by retention, deletes these rows first, then the interaction itself.
- :data:`RETENTION_COLUMNS`: the time column that ages each table's rows.

Tables a store does not have (an older schema, a backend without the table) are skipped.
The statements are plain ``DELETE ... WHERE ... IN (SELECT ...)``, which DuckDB and
PostgreSQL run in one transaction; the ClickHouse store turns them into lightweight deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from promptloop.exceptions import StoreError
from promptloop.store.base import FEEDBACK_TABLE, INTERACTIONS_TABLE, Store

# The interactions a deletion is about, as a subquery over llm_interaction_logs.
_IDS = "{ids}"


@dataclass(frozen=True)
class LinkedTable:
    """Rows of ``table`` that belong to the interactions ``{ids}`` selects."""

    table: str
    condition: str  # SQL with an ``{ids}`` placeholder for the interaction-ID subquery

    def where(self, ids_sql: str) -> str:
        return self.condition.format(ids=ids_sql)


def by_column(table: str, column: str = "interaction_id") -> LinkedTable:
    return LinkedTable(table, f"{column} IN ({_IDS})")


# Order matters: a row is deleted before the rows it is found through.
LINKED_TABLES: list[LinkedTable] = [
    LinkedTable(
        FEEDBACK_TABLE, f"interaction_id IN ({_IDS}) OR related_interaction_id IN ({_IDS})"
    ),
    by_column("edit_analyses"),
    by_column("cluster_members"),
    by_column("interaction_signals"),
    by_column("review_labels"),
    by_column("review_items"),
    LinkedTable(
        "eval_results",
        f"item_id IN (SELECT item_id FROM eval_items WHERE source_interaction_id IN ({_IDS}))",
    ),
    by_column("eval_items", "source_interaction_id"),
]

RETENTION_COLUMNS: dict[str, str] = {
    INTERACTIONS_TABLE: "timestamp",
    FEEDBACK_TABLE: "timestamp",
    "edit_analyses": "computed_at",
    "cluster_members": "assigned_at",
    "alerts": "opened_at",
    "review_labels": "created_at",
    "eval_results": "created_at",
}
MAX_DAYS = 36_500  # a century: beyond it a cutoff date is meaningless (and may overflow)
# Short names accepted wherever a table is named in a retention rule.
ALIASES = {"interactions": INTERACTIONS_TABLE, "feedback": FEEDBACK_TABLE}


def register_linked_table(table: LinkedTable) -> None:
    """Add a table holding per-interaction data; it is deleted with its interactions."""
    if table not in LINKED_TABLES:
        LINKED_TABLES.append(table)


def register_retention(table: str, time_column: str) -> None:
    RETENTION_COLUMNS[table] = time_column


@dataclass
class DeletionReport:
    """Rows deleted (or, for a dry run, that would be) per table."""

    deleted: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def as_dict(self) -> dict[str, Any]:
        return {"deleted": dict(self.deleted), "total": self.total, "dry_run": self.dry_run}


def has_table(store: Store, table: str) -> bool:
    try:
        store.fetch_all(f"SELECT 1 AS present FROM {table} WHERE 1 = 0")
    except StoreError:
        return False
    return True


def _count(store: Store, table: str, condition: str, params: Mapping[str, Any]) -> int:
    rows = store.fetch_all(f"SELECT count(*) AS n FROM {table} WHERE {condition}", params)
    return int(rows[0]["n"])


def _delete_interactions(
    store: Store, where: str, params: Mapping[str, Any], *, dry_run: bool
) -> DeletionReport:
    """Delete the interactions ``where`` selects, and every row linked to them."""
    ids_sql = f"SELECT interaction_id FROM {INTERACTIONS_TABLE} WHERE {where}"
    plan = [
        (linked.table, linked.where(ids_sql))
        for linked in LINKED_TABLES
        if has_table(store, linked.table)
    ]
    plan.append((INTERACTIONS_TABLE, where))
    report = DeletionReport(dry_run=dry_run)
    for table, condition in plan:
        report.deleted[table] = report.deleted.get(table, 0) + _count(
            store, table, condition, params
        )
    if not dry_run:
        store.transaction(
            [(f"DELETE FROM {table} WHERE {condition}", params) for table, condition in plan]
        )
    return report


def delete_user(store: Store, user_id: str, *, dry_run: bool = False) -> DeletionReport:
    """Delete everything stored about one (hashed) user ID, across every table holding it.

    Feedback that arrived before its interaction carries no user ID, so it can be found
    only once that interaction is stored: run the deletion again after late data settles.
    """
    if not user_id:
        raise ValueError("user_id must not be empty")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in user_id):
        raise ValueError("user_id must not contain control characters")
    return _delete_interactions(store, "user_id = :user_id", {"user_id": user_id}, dry_run=dry_run)


def resolve_table(name: str) -> str:
    table = ALIASES.get(name, name)
    if table not in RETENTION_COLUMNS:
        known = ", ".join(sorted({*ALIASES, *RETENTION_COLUMNS}))
        raise ValueError(f"no retention for table {name!r}; tables: {known}")
    return table


def parse_rules(spec: str | Mapping[str, int] | None) -> dict[str, int]:
    """``"interactions=90,feedback=365"`` (or a mapping) as ``{table: days}``, checked."""
    if spec is None:
        return {}
    items: list[tuple[str, Any]]
    if isinstance(spec, str):
        items = []
        for part in (piece.strip() for piece in spec.split(",")):
            if not part:
                continue
            name, sep, days = part.partition("=")
            if not sep:
                raise ValueError(f"retention rule {part!r} is not TABLE=DAYS")
            items.append((name.strip(), days.strip()))
    else:
        items = list(spec.items())
    rules: dict[str, int] = {}
    for name, days in items:
        try:
            number = int(days)
        except (TypeError, ValueError):
            raise ValueError(f"retention for {name!r}: days must be a whole number") from None
        if number < 1:
            raise ValueError(f"retention for {name!r}: days must be at least 1")
        if number > MAX_DAYS:
            raise ValueError(f"retention for {name!r}: days must be at most {MAX_DAYS}")
        rules[resolve_table(name)] = number
    return rules


def apply_retention(
    store: Store,
    rules: Mapping[str, int],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> DeletionReport:
    """Delete rows older than each table's retention (days). Interactions take their
    linked rows with them, whatever those tables' own rules say."""
    moment = now or datetime.now(UTC)
    report = DeletionReport(dry_run=dry_run)
    for table, days in parse_rules(rules).items():
        if not has_table(store, table):
            continue
        column = RETENTION_COLUMNS[table]
        params = {"cutoff": moment - timedelta(days=days)}
        if table == INTERACTIONS_TABLE:
            part = _delete_interactions(store, f"{column} < :cutoff", params, dry_run=dry_run)
            for name, count in part.deleted.items():
                report.deleted[name] = report.deleted.get(name, 0) + count
            continue
        condition = f"{column} < :cutoff"
        count = _count(store, table, condition, params)
        if count and not dry_run:
            store.execute(f"DELETE FROM {table} WHERE {condition}", params)
        report.deleted[table] = report.deleted.get(table, 0) + count
    return report
