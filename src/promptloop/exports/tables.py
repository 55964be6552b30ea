"""Interactions and feedback read out of the store in pages, as Arrow record batches.

Filters are the explorer's (:class:`~promptloop.analytics.queries.InteractionFilter`);
feedback is exported for the interactions the filter selects (all of it, orphans included,
when the filter is empty). Pages are keyset-ordered by (timestamp, id), so memory stays
bounded by the page size however large the export.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from promptloop.analytics.queries import InteractionFilter
from promptloop.core.records import FeedbackEvent, Interaction, as_utc
from promptloop.store.base import Store

Kind = Literal["interactions", "feedback"]
KINDS: tuple[Kind, ...] = ("interactions", "feedback")
PAGE_ROWS = 10_000

_TS = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    "input_tokens": pa.int64(),
    "output_tokens": pa.int64(),
    "latency_ms": pa.float64(),
    "cost_usd": pa.float64(),
    "value": pa.float64(),
    "timestamp": _TS,
    "ingested_at": _TS,
}


def _schema(names: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(name, _TYPES.get(name, pa.string())) for name in names])


COLUMNS: dict[Kind, tuple[str, ...]] = {
    "interactions": (*Interaction.model_fields, "ingested_at"),
    "feedback": (*FeedbackEvent.model_fields, "ingested_at"),
}
SCHEMAS: dict[Kind, pa.Schema] = {kind: _schema(COLUMNS[kind]) for kind in KINDS}
_KEYS: dict[Kind, tuple[str, str]] = {
    "interactions": ("l", "interaction_id"),
    "feedback": ("f", "feedback_id"),
}


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def scope(kind: Kind, filters: InteractionFilter | None) -> tuple[str, str, dict[str, Any]]:
    """FROM clause, WHERE condition and parameters selecting what ``filters`` asks for."""
    condition, params = (filters or InteractionFilter()).where("l")
    if kind == "interactions":
        return "llm_interaction_logs l", condition, params
    if condition == "TRUE":
        return "feedback_events f", "TRUE", params
    return (
        "feedback_events f",
        f"f.interaction_id IN (SELECT l.interaction_id FROM llm_interaction_logs l"
        f" WHERE {condition})",
        params,
    )


def count_rows(store: Store, kind: Kind, filters: InteractionFilter | None = None) -> int:
    source, condition, params = scope(kind, filters)
    rows = store.fetch_all(f"SELECT count(*) AS n FROM {source} WHERE {condition}", params)
    return int(rows[0]["n"])


def iter_rows(
    store: Store,
    kind: Kind,
    filters: InteractionFilter | None = None,
    *,
    page_rows: int = PAGE_ROWS,
    extra_columns: str = "",
) -> Iterator[list[dict[str, Any]]]:
    """Pages of rows, oldest first. ``extra_columns`` adds selected expressions (joins)."""
    source, condition, params = scope(kind, filters)
    alias, key = _KEYS[kind]
    columns = ", ".join(f"{alias}.{name}" for name in COLUMNS[kind]) + extra_columns
    joins = (
        " LEFT JOIN llm_interaction_logs li ON li.interaction_id = f.interaction_id"
        if extra_columns
        else ""
    )
    after: tuple[datetime, str] | None = None
    while True:
        page_condition = condition
        page_params = dict(params)
        if after is not None:
            page_condition += (
                f" AND ({alias}.timestamp > :after_ts"
                f" OR ({alias}.timestamp = :after_ts AND {alias}.{key} > :after_id))"
            )
            page_params.update(after_ts=after[0], after_id=after[1])
        rows = store.fetch_all(
            f"SELECT {columns} FROM {source}{joins} WHERE {page_condition}"
            f" ORDER BY {alias}.timestamp, {alias}.{key} LIMIT :page_rows",
            {**page_params, "page_rows": page_rows},
        )
        if not rows:
            return
        yield rows
        if len(rows) < page_rows:
            return
        after = (as_utc(rows[-1]["timestamp"]), str(rows[-1][key]))


def _cell(name: str, value: Any) -> Any:
    if name == "metadata":
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    if isinstance(value, datetime):
        return as_utc(value)
    if _TYPES.get(name) is None and value is not None and not isinstance(value, str):
        return str(value)
    return value


def to_batch(kind: Kind, rows: list[dict[str, Any]]) -> pa.RecordBatch:
    columns = COLUMNS[kind]
    data = {name: [_cell(name, row.get(name)) for row in rows] for name in columns}
    return pa.RecordBatch.from_pydict(data, schema=SCHEMAS[kind])


def iter_batches(
    store: Store,
    kind: Kind,
    filters: InteractionFilter | None = None,
    *,
    page_rows: int = PAGE_ROWS,
    progress: Callable[[int], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    for rows in iter_rows(store, kind, filters, page_rows=page_rows):
        batch = to_batch(kind, rows)
        if progress is not None:
            progress(batch.num_rows)
        yield batch


def read_table(store: Store, kind: Kind, filters: InteractionFilter | None = None) -> pa.Table:
    return pa.Table.from_batches(list(iter_batches(store, kind, filters)), schema=SCHEMAS[kind])
