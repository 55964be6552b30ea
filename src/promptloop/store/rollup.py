"""``interaction_signals``: one narrow row per interaction with what its feedback says.

Rates, summaries, alerts and "interactions with feedback of type X" all ask, per
interaction, *did it get a signal of this kind (and when first)?* Answering that from
``feedback_events`` means grouping millions of events by interaction ID and joining them to
the log on every query. This rollup keeps the answer: the interaction's slicing columns
(feature, prompt, model, time) and measures (latency, tokens, cost, error), a key of its
normalised input, and per signal the time of the first event (NULL: none), plus event
counts where queries count events.

It is maintained in the same transaction as the rows it summarises:

- inserting interactions sets the interaction's columns (:func:`interaction_upsert`);
- inserting feedback merges the new events into the row (:func:`feedback_upsert`): first
  times take the minimum, counts add up, so a row may exist before its interaction arrives;
- deleting feedback (the signal job retracting inferred events) recomputes the touched rows
  from scratch (:func:`recompute_statements`);
- anything else that writes the two tables with its own SQL calls :func:`rebuild` (or
  :func:`recompute_statements` for the IDs it touched).

:func:`from_scratch_sql` is the definition; the incremental paths must always equal it
(``tests/store/test_rollup.py`` checks that, including late, duplicate and retracted events).

The SQL is standard (``INSERT ... ON CONFLICT ... DO UPDATE``, ``CASE``, ``min``/``max``)
except the input key, which goes through :func:`input_key_sql` per dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from promptloop.core.enums import (
    EXPLICIT_TYPES,
    NEGATIVE_RATING_MAX,
    NEGATIVE_TYPES,
    PRODUCTION_SOURCES,
    FeedbackType,
)
from promptloop.store.base import Store

TABLE = "interaction_signals"

# Every feedback type gets a "first event" column: first_<type>_at.
FEEDBACK_TYPES: tuple[str, ...] = tuple(member.value for member in FeedbackType)


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def negative_predicate(alias: str = "f") -> str:
    """A negative event: a type that always is, or a rating of 2 or less."""
    return (
        f"({alias}.feedback_type IN ({_quoted(NEGATIVE_TYPES)})"
        f" OR ({alias}.feedback_type = 'rating' AND {alias}.value <= {NEGATIVE_RATING_MAX}))"
    )


def copy_unedited_predicate(alias: str = "f") -> str:
    """A copy the client did not flag as a copy of edited text."""
    return (
        f"({alias}.feedback_type = 'copy'"
        f" AND coalesce({alias}.metadata->>'edited', 'false') <> 'true')"
    )


def production_predicate(alias: str = "f") -> str:
    """An event of production traffic (users and inference), not an annotator's or judge's."""
    return f"{alias}.source IN ({_quoted(PRODUCTION_SOURCES)})"


def _from_production(alias: str, columns: dict[str, str]) -> dict[str, str]:
    production = production_predicate(alias)
    return {name: f"({production} AND {predicate})" for name, predicate in columns.items()}


def _first_columns(alias: str) -> dict[str, str]:
    """first_* column -> the predicate on a feedback event ``alias`` that it times."""
    columns = {f"first_{kind}_at": f"{alias}.feedback_type = '{kind}'" for kind in FEEDBACK_TYPES}
    columns["first_negative_at"] = negative_predicate(alias)
    columns["first_response_at"] = f"{alias}.feedback_type IN ({_quoted(EXPLICIT_TYPES)})"
    columns["first_copy_unedited_at"] = copy_unedited_predicate(alias)
    return _from_production(alias, columns)


def _count_columns(alias: str) -> dict[str, str]:
    return _from_production(
        alias,
        {
            "regenerate_events": f"{alias}.feedback_type = 'regenerate'",
            "negative_events": negative_predicate(alias),
        },
    )


def _last_columns(alias: str) -> dict[str, str]:
    return _from_production(alias, {"last_negative_at": negative_predicate(alias)})


FIRST_COLUMNS: tuple[str, ...] = tuple(_first_columns("f"))
COUNT_COLUMNS: tuple[str, ...] = tuple(_count_columns("f"))
LAST_COLUMNS: tuple[str, ...] = tuple(_last_columns("f"))
FEEDBACK_COLUMNS: tuple[str, ...] = (*FIRST_COLUMNS, *LAST_COLUMNS, *COUNT_COLUMNS)
# Copied from the interaction (NULL until it arrives; timestamp is then never NULL).
COPIED_COLUMNS: tuple[str, ...] = (
    "feature",
    "prompt_name",
    "prompt_version",
    "model",
    "timestamp",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
INTERACTION_COLUMNS: tuple[str, ...] = (*COPIED_COLUMNS, "has_error", "input_key", "exact_key")
# The tables the rollup summarises -> the columns its upserts read from their new rows.
SOURCE_COLUMNS: dict[str, str] = {
    "llm_interaction_logs": ", ".join(("interaction_id", *COPIED_COLUMNS, "error", "user_input")),
    "feedback_events": "interaction_id, feedback_type, value, metadata, timestamp, source",
}


def first_column(feedback_type: str) -> str | None:
    """The first_*_at column of a feedback type, or None for a type the rollup lacks."""
    column = f"first_{feedback_type}_at"
    return column if feedback_type in FEEDBACK_TYPES else None


def input_key_sql(expression: str, dialect: str) -> str:
    """A 60-bit integer key of ``lower(trim(input))``: grouping on it instead of the
    (possibly kilobytes long) text keeps "most common inputs" queries on narrow rows.
    ``lower`` and ``trim`` are the backend's own, as the grouping on the text was."""
    return text_key_sql(f"lower(trim({expression}))", dialect)


def text_key_sql(expression: str, dialect: str) -> str:
    """A 60-bit integer key of a text (the first 15 hex digits of its MD5); DuckDB and
    PostgreSQL compute the same key."""
    digest = f"substr(md5({expression}), 1, 15)"
    if dialect == "postgresql":
        return f"('x' || {digest})::bit(60)::bigint"
    if dialect == "duckdb":
        return f"CAST(('0x' || {digest}) AS BIGINT)"
    if dialect == "clickhouse":  # the store translates the DuckDB form (clickhouse_sql.py)
        return f"CAST(('0x' || {digest}) AS BIGINT)"
    raise ValueError(f"no input key for dialect {dialect!r}")


def ddl(text: str, double: str) -> str:
    timestamps = ",\n    ".join(f"{name} TIMESTAMPTZ" for name in (*FIRST_COLUMNS, *LAST_COLUMNS))
    counts = ",\n    ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in COUNT_COLUMNS)
    return f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    interaction_id {text} PRIMARY KEY,
    feature {text},
    prompt_name {text},
    prompt_version {text},
    model {text},
    timestamp TIMESTAMPTZ,
    latency_ms {double},
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd {double},
    has_error INTEGER,
    input_key BIGINT,
    exact_key BIGINT,
    {timestamps},
    {counts}
)"""


# -- maintenance ---------------------------------------------------------------------------
def _interaction_values(alias: str, dialect: str) -> dict[str, str]:
    values = {name: f"{alias}.{name}" for name in COPIED_COLUMNS}
    values["has_error"] = (
        f"CASE WHEN {alias}.interaction_id IS NULL THEN NULL"
        f" WHEN {alias}.error IS NOT NULL THEN 1 ELSE 0 END"
    )
    values["input_key"] = input_key_sql(f"{alias}.user_input", dialect)
    values["exact_key"] = text_key_sql(f"{alias}.user_input", dialect)
    return values


def _feedback_aggregates(alias: str) -> dict[str, str]:
    values = {
        name: f"min(CASE WHEN {predicate} THEN {alias}.timestamp END)"
        for name, predicate in _first_columns(alias).items()
    }
    values |= {
        name: f"max(CASE WHEN {predicate} THEN {alias}.timestamp END)"
        for name, predicate in _last_columns(alias).items()
    }
    values |= {
        name: f"sum(CASE WHEN {predicate} THEN 1 ELSE 0 END)"
        for name, predicate in _count_columns(alias).items()
    }
    return values


def _merge(name: str) -> str:
    """How an existing row takes in the aggregates of newly inserted events."""
    current, new = f"{TABLE}.{name}", f"excluded.{name}"
    if name in COUNT_COLUMNS:
        return f"{name} = {current} + {new}"
    newer = "<" if name in FIRST_COLUMNS else ">"
    return (
        f"{name} = CASE WHEN {current} IS NULL OR {new} {newer} {current}"
        f" THEN {new} ELSE {current} END"
    )


def interaction_upsert(source: str, dialect: str) -> str:
    """Set the interaction columns from ``source`` (rows shaped like the log, all new)."""
    values = _interaction_values("b", dialect)
    names = ", ".join(values)
    sets = ", ".join(f"{name} = excluded.{name}" for name in values)
    return (
        f"INSERT INTO {TABLE} (interaction_id, {names})"
        f" SELECT b.interaction_id, {', '.join(values.values())} FROM {source} b"
        f" ON CONFLICT (interaction_id) DO UPDATE SET {sets}"
    )


def feedback_upsert(source: str) -> str:
    """Merge newly inserted events of ``source`` (rows shaped like feedback_events)."""
    values = _feedback_aggregates("b")
    names = ", ".join(values)
    sets = ", ".join(_merge(name) for name in values)
    # Sorted so that two concurrent writers lock rows in the same order (no deadlock).
    return (
        f"INSERT INTO {TABLE} (interaction_id, {names})"
        f" SELECT b.interaction_id, {', '.join(values.values())} FROM {source} b"
        " GROUP BY b.interaction_id ORDER BY b.interaction_id"
        f" ON CONFLICT (interaction_id) DO UPDATE SET {sets}"
    )


def from_scratch_sql(dialect: str, ids: str | None = None) -> str:
    """The rollup's rows computed from the two tables (only the IDs listed in ``ids``,
    a comma-separated list of placeholders, when given)."""
    only = f" WHERE interaction_id IN ({ids})" if ids else ""
    only_f = f" WHERE f.interaction_id IN ({ids})" if ids else ""
    interaction = _interaction_values("l", dialect)
    feedback = _feedback_aggregates("f")
    keys = (
        f"SELECT interaction_id FROM llm_interaction_logs{only}"
        f" UNION SELECT interaction_id FROM feedback_events{only}"
    )
    columns = [f"{expression} AS {name}" for name, expression in interaction.items()]
    columns += [f"coalesce(a.{name}, 0) AS {name}" for name in COUNT_COLUMNS]
    columns += [f"a.{name} AS {name}" for name in (*FIRST_COLUMNS, *LAST_COLUMNS)]
    return f"""
        SELECT k.interaction_id, {", ".join(columns)}
        FROM ({keys}) k
        LEFT JOIN llm_interaction_logs l ON l.interaction_id = k.interaction_id
        LEFT JOIN (
            SELECT f.interaction_id, {", ".join(f"{e} AS {n}" for n, e in feedback.items())}
            FROM feedback_events f{only_f}
            GROUP BY f.interaction_id
        ) a ON a.interaction_id = k.interaction_id
    """


def _all_columns() -> tuple[str, ...]:
    return ("interaction_id", *INTERACTION_COLUMNS, *COUNT_COLUMNS, *FIRST_COLUMNS, *LAST_COLUMNS)


def populate_sql(dialect: str) -> str:
    """Fill an empty rollup from the tables (the migration that creates it runs this)."""
    names = ", ".join(_all_columns())
    # In time order (as the insert paths append): range scans then skip whole blocks.
    return (
        f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM ({from_scratch_sql(dialect)}) r"
        " ORDER BY r.timestamp NULLS LAST, r.interaction_id"
    )


def _in_list(ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    params = {f"rollup_id{n}": ident for n, ident in enumerate(ids)}
    return ", ".join(f":{name}" for name in params) or "NULL", params


def recompute_statements(dialect: str, ids: Sequence[str]) -> list[tuple[str, Mapping[str, Any]]]:
    """Statements that make the rows of ``ids`` equal to :func:`from_scratch_sql` again
    (run them in the transaction that changed the tables)."""
    if not ids:
        return []
    placeholders, params = _in_list(sorted(set(ids)))
    names = ", ".join(_all_columns())
    sets = ", ".join(f"{name} = excluded.{name}" for name in _all_columns()[1:])
    return [
        (
            f"INSERT INTO {TABLE} ({names})"
            f" SELECT {names} FROM ({from_scratch_sql(dialect, placeholders)}) r"
            f" ON CONFLICT (interaction_id) DO UPDATE SET {sets}",
            params,
        ),
        # An ID with neither an interaction nor feedback left has no row.
        (
            f"DELETE FROM {TABLE} WHERE interaction_id IN ({placeholders})"
            " AND interaction_id NOT IN (SELECT interaction_id FROM llm_interaction_logs"
            f" WHERE interaction_id IN ({placeholders}))"
            " AND interaction_id NOT IN (SELECT interaction_id FROM feedback_events"
            f" WHERE interaction_id IN ({placeholders}))",
            params,
        ),
    ]


def rebuild(store: Store) -> None:
    """Recompute the whole rollup from the tables, atomically."""
    store.transaction([(f"DELETE FROM {TABLE}", {}), (populate_sql(store.dialect), {})])


def differences_sql(dialect: str) -> str:
    """Rows where the stored rollup and a from-scratch recomputation disagree (tests and
    ``promptloop`` health checks use it; empty when the rollup is right)."""
    names = ", ".join(_all_columns())
    stored = f"SELECT {names} FROM {TABLE}"
    fresh = f"SELECT {names} FROM ({from_scratch_sql(dialect)}) r"
    return f"({stored} EXCEPT {fresh}) UNION ALL ({fresh} EXCEPT {stored})"
