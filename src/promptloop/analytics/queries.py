"""The questions the seed says an engineer or PM must answer without writing a pipeline.

Every function takes a :class:`~promptloop.store.base.Store` and returns plain rows
(``list[dict]``), so the HTTP API, the CLI and Python callers share one implementation.
SQL here is portable across the SQL backends: time windows are computed in Python and passed
as parameters instead of using dialect-specific interval arithmetic.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from promptloop.core.enums import EXPLICIT_TYPES, NEGATIVE_RATING_MAX, NEGATIVE_TYPES
from promptloop.core.records import as_utc
from promptloop.store import rollup
from promptloop.store.base import Store

MAX_PAGE_SIZE = 1000

# Columns returned when listing interactions: everything but the bulky system prompt.
LIST_COLUMNS = (
    "interaction_id",
    "timestamp",
    "session_id",
    "user_id",
    "feature",
    "prompt_name",
    "prompt_version",
    "prompt_hash",
    "model",
    "user_input",
    "raw_output",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "cost_usd",
    "error",
    "parent_interaction_id",
    "metadata",
)


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


# A feedback event is negative when its type always is, or when it is a low rating.
NEGATIVE_CONDITION = (
    f"(f.feedback_type IN ({_quoted(NEGATIVE_TYPES)})"
    f" OR (f.feedback_type = 'rating' AND f.value <= {NEGATIVE_RATING_MAX}))"
)
# Rates and summaries count production events only (see core.enums.PRODUCTION_SOURCES).
PRODUCTION_CONDITION = rollup.production_predicate("f")


@dataclass(frozen=True)
class InteractionFilter:
    """Which interactions to look at. Every field is optional; set fields are ANDed."""

    prompt_version: str | None = None
    prompt_name: str | None = None
    feature: str | None = None
    session_id: str | None = None
    model: str | None = None
    feedback_type: str | None = None  # interactions with at least one event of this type
    feedback_source: str | None = None  # ... from this source (user, inferred, annotator, judge)
    since: datetime | None = None
    until: datetime | None = None

    def where(self, alias: str = "l") -> tuple[str, dict[str, Any]]:
        """A SQL condition on ``llm_interaction_logs AS alias`` and its parameters."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for column in ("prompt_version", "prompt_name", "feature", "session_id", "model"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{alias}.{column} = :{column}")
                params[column] = value
        if self.since is not None:
            clauses.append(f"{alias}.timestamp >= :since")
            params["since"] = as_utc(self.since)
        if self.until is not None:
            clauses.append(f"{alias}.timestamp < :until")
            params["until"] = as_utc(self.until)
        if self.feedback_type is not None or self.feedback_source is not None:
            conditions = []
            if self.feedback_type is not None:
                conditions.append("feedback_type = :feedback_type")
                params["feedback_type"] = self.feedback_type
            if self.feedback_source is not None:
                conditions.append("source = :feedback_source")
                params["feedback_source"] = self.feedback_source
            clauses.append(
                f"{alias}.interaction_id IN (SELECT interaction_id FROM feedback_events "
                f"WHERE {' AND '.join(conditions)})"
            )
        return (" AND ".join(clauses) or "TRUE"), params

    def rollup_where(self, alias: str = "s") -> tuple[str, dict[str, Any]] | None:
        """The same condition on ``interaction_signals AS alias`` (logged interactions
        only), or None when the rollup cannot express it (a session or a feedback source)."""
        if self.session_id is not None or self.feedback_source is not None:
            return None
        clauses = [f"{alias}.timestamp IS NOT NULL"]
        params: dict[str, Any] = {}
        for column in ("prompt_version", "prompt_name", "feature", "model"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{alias}.{column} = :{column}")
                params[column] = value
        if self.since is not None:
            clauses.append(f"{alias}.timestamp >= :since")
            params["since"] = as_utc(self.since)
        if self.until is not None:
            clauses.append(f"{alias}.timestamp < :until")
            params["until"] = as_utc(self.until)
        if self.feedback_type is not None:
            first = rollup.first_column(self.feedback_type)
            if first is None:
                return None
            clauses.append(f"{alias}.{first} IS NOT NULL")
        return " AND ".join(clauses), params


def rollup_condition(
    store: Store, filters: InteractionFilter | None, alias: str = "s"
) -> tuple[str, dict[str, Any]] | None:
    """The filter on the ``interaction_signals`` rollup when this store keeps one (see
    store/rollup.py) and the filter fits it; None: query the two tables themselves."""
    if not getattr(store, "signal_rollup", False):
        return None
    return (filters or InteractionFilter()).rollup_where(alias)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    filters: dict[str, Any] = field(default_factory=dict)


def _encode_cursor(row: dict[str, Any]) -> str:
    stamp = as_utc(row["timestamp"]).isoformat()
    return base64.urlsafe_b64encode(f"{stamp}|{row['interaction_id']}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), ident
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"cursor is not one this API returned: {cursor!r}") from None


def list_interactions(
    store: Store,
    filters: InteractionFilter | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Newest first, paged by keyset (a cursor), so page N costs the same as page 1."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    filters = filters or InteractionFilter()
    # "Interactions with feedback of type X" is a join with millions of events; the rollup
    # answers it from one narrow row per interaction. Other filters scan the log directly.
    on_rollup = rollup_condition(store, filters) if filters.feedback_type else None
    table, alias = ("interaction_signals", "s") if on_rollup else ("llm_interaction_logs", "l")
    condition, params = on_rollup or filters.where()
    if cursor:
        stamp, ident = _decode_cursor(cursor)
        condition += (
            f" AND ({alias}.timestamp < :cursor_ts"
            f" OR ({alias}.timestamp = :cursor_ts AND {alias}.interaction_id < :cursor_id))"
        )
        params.update(cursor_ts=stamp, cursor_id=ident)
    columns = ", ".join(f"l.{name}" for name in LIST_COLUMNS)
    # Pick the page on the narrow key columns first, then read the wide text columns of
    # those rows only: a filter matching 300k rows must not read 300k outputs. Joining on
    # the timestamp too lets the scan of the log skip every block outside the page's times.
    rows = store.fetch_all(
        f"""
        WITH page AS (
            SELECT {alias}.interaction_id, {alias}.timestamp FROM {table} {alias}
            WHERE {condition}
            ORDER BY {alias}.timestamp DESC, {alias}.interaction_id DESC LIMIT :limit
        )
        SELECT {columns} FROM llm_interaction_logs l
        JOIN page p ON p.interaction_id = l.interaction_id AND p.timestamp = l.timestamp
        ORDER BY l.timestamp DESC, l.interaction_id DESC
        """,
        {**params, "limit": limit + 1},
    )
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor)


def get_interaction(store: Store, interaction_id: str) -> dict[str, Any] | None:
    """One interaction with every feedback event linked to it, oldest first."""
    rows = store.fetch_all(
        "SELECT * FROM llm_interaction_logs WHERE interaction_id = :id", {"id": interaction_id}
    )
    feedback = feedback_for(store, interaction_id)
    if not rows:
        # Feedback may arrive before its interaction: report it rather than hide it.
        return (
            {"interaction_id": interaction_id, "missing": True, "feedback": feedback}
            if feedback
            else None
        )
    return {**rows[0], "feedback": feedback}


def feedback_for(store: Store, interaction_id: str) -> list[dict[str, Any]]:
    return store.fetch_all(
        "SELECT * FROM feedback_events WHERE interaction_id = :id ORDER BY timestamp, feedback_id",
        {"id": interaction_id},
    )


def _window_start(days: int, now: datetime | None) -> datetime:
    if days <= 0:
        raise ValueError("days must be positive")
    return as_utc(now or datetime.now(UTC)) - timedelta(days=days)


def top_negative_inputs(
    store: Store,
    *,
    days: int = 14,
    limit: int = 20,
    feature: str | None = None,
    prompt_version: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The most common user inputs that received negative feedback in the last ``days`` days.

    Inputs are grouped case- and whitespace-insensitively. Negative means thumbs-down, a
    report, a correction, or a rating of 2 or less. ``interactions`` counts distinct
    interactions with negative feedback; ``negative_events`` counts the events.
    """
    filters = InteractionFilter(
        feature=feature, prompt_version=prompt_version, since=_window_start(days, now)
    )
    on_rollup = rollup_condition(store, filters)
    if on_rollup is not None:
        return _top_negative_on_rollup(store, *on_rollup, limit)
    condition, params = filters.where()
    # The normalised input is computed once per interaction, in the inner query.
    return store.fetch_all(
        f"""
        SELECT n.normalized_input,
               min(n.user_input) AS example_input,
               count(DISTINCT n.interaction_id) AS interactions,
               count(*) AS negative_events,
               count(DISTINCT n.prompt_version) AS prompt_versions,
               max(n.feedback_at) AS last_feedback_at
        FROM (
            SELECT lower(trim(l.user_input)) AS normalized_input, l.user_input,
                   l.interaction_id, l.prompt_version, f.timestamp AS feedback_at
            FROM llm_interaction_logs l
            JOIN feedback_events f ON f.interaction_id = l.interaction_id
            WHERE {condition} AND {NEGATIVE_CONDITION} AND {PRODUCTION_CONDITION}
              AND l.user_input IS NOT NULL
        ) n
        GROUP BY n.normalized_input
        ORDER BY interactions DESC, negative_events DESC, n.normalized_input
        LIMIT :limit
        """,
        {**params, "limit": limit},
    )


_NEGATIVE_GROUPS = """
        WITH negative AS (
            SELECT s.interaction_id, s.input_key, s.exact_key, s.prompt_version,
                   s.negative_events, s.last_negative_at
            FROM interaction_signals s
            WHERE {condition} AND s.negative_events > 0 AND s.input_key IS NOT NULL
        ),
        grouped AS (
            SELECT input_key, count(*) AS interactions,
                   sum(negative_events) AS negative_events,
                   max(last_negative_at) AS last_feedback_at
            FROM negative GROUP BY input_key
        ),
        ranked AS (
            SELECT * FROM (
                SELECT g.*, rank() OVER (ORDER BY interactions DESC, negative_events DESC) AS r
                FROM grouped g
            ) t WHERE r <= :limit
        ),
        members AS (
            SELECT n.input_key, n.exact_key, n.interaction_id, n.prompt_version
            FROM negative n JOIN ranked k ON k.input_key = n.input_key
        ),
        versions AS (
            SELECT input_key, count(DISTINCT prompt_version) AS prompt_versions
            FROM members GROUP BY input_key
        ),
        variants AS (
            SELECT input_key, min(interaction_id) AS interaction_id
            FROM members GROUP BY input_key, exact_key
        )"""


MAX_LOOKUPS = 2_000


def _regenerated_by_lookup(
    store: Store, on_rollup: tuple[str, dict[str, Any]], min_count: int, limit: int
) -> list[dict[str, Any]] | None:
    """DuckDB: group the regenerated interactions by the key of their exact input on the
    rollup, rank, then read one text per winning input through the primary-key index
    (instead of every input of the version's window). None when ties at the cut make too
    many winners for lookups: the caller joins instead."""
    condition, params = on_rollup
    winners = store.fetch_all(
        f"""
        WITH grouped AS (
            SELECT s.exact_key, CAST(sum(s.regenerate_events) AS BIGINT) AS regeneration_count,
                   min(s.interaction_id) AS interaction_id
            FROM interaction_signals s
            WHERE {condition} AND s.regenerate_events > 0
            GROUP BY s.exact_key
            HAVING sum(s.regenerate_events) >= :min_count
        )
        SELECT regeneration_count, interaction_id FROM (
            SELECT g.*, rank() OVER (ORDER BY regeneration_count DESC) AS r FROM grouped g
        ) t WHERE r <= :limit
        """,
        {**params, "min_count": min_count, "limit": limit},
    )
    if len(winners) > MAX_LOOKUPS:
        return None
    texts = _texts(store, [row["interaction_id"] for row in winners])
    rows = [
        {
            "user_input": texts[row["interaction_id"]],
            "regeneration_count": row["regeneration_count"],
        }
        for row in winners
    ]
    # ORDER BY regeneration_count DESC, user_input (NULLS LAST), as DuckDB orders text.
    rows.sort(
        key=lambda r: (-r["regeneration_count"], r["user_input"] is None, r["user_input"] or "")
    )
    return rows[:limit]


def _texts(store: Store, ids: list[str]) -> dict[str, Any]:
    """``user_input`` of each interaction, read by primary key (a constant IN list)."""
    found: dict[str, Any] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        placeholders = ", ".join(f":t{n}" for n in range(len(chunk))) or "NULL"
        for row in store.fetch_all(
            "SELECT interaction_id, user_input FROM llm_interaction_logs"
            f" WHERE interaction_id IN ({placeholders})",
            {f"t{n}": ident for n, ident in enumerate(chunk)},
        ):
            found[row["interaction_id"]] = row["user_input"]
    return found


def _top_negative_on_rollup(
    store: Store, condition: str, params: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """``top_negative_inputs`` on the rollup: group the negatively signalled interactions
    by the key of their normalised input (narrow rows), rank the groups, and read the text
    of the winners only: one interaction per distinct exact input (``exact_key``) is
    enough for the smallest spelling. Ties at the cut are all kept (rank), then ordered by
    the text, so the result equals grouping on the text itself."""
    groups = _NEGATIVE_GROUPS.format(condition=condition)
    if store.dialect == "duckdb":
        return _top_negative_by_lookup(store, groups, {**params, "limit": limit}, limit)
    return store.fetch_all(
        f"""{groups},
        texts AS (
            SELECT v.input_key, min(lower(trim(l.user_input))) AS normalized_input,
                   min(l.user_input) AS example_input
            FROM variants v
            JOIN llm_interaction_logs l ON l.interaction_id = v.interaction_id
            GROUP BY v.input_key
        )
        SELECT x.normalized_input, x.example_input,
               CAST(k.interactions AS BIGINT) AS interactions,
               CAST(k.negative_events AS BIGINT) AS negative_events,
               CAST(v.prompt_versions AS BIGINT) AS prompt_versions,
               k.last_feedback_at
        FROM ranked k
        JOIN texts x ON x.input_key = k.input_key
        JOIN versions v ON v.input_key = k.input_key
        ORDER BY k.interactions DESC, k.negative_events DESC, x.normalized_input
        LIMIT :limit
        """,
        {**params, "limit": limit},
    )


def _top_negative_by_lookup(
    store: Store, groups: str, params: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """DuckDB: a join would scan every interaction ID of the log to find a few dozen
    texts; a constant IN list is answered from the primary-key index instead. DuckDB
    compares text by code point (binary), as Python does, so min and order match."""
    winners = store.fetch_all(
        f"""{groups}
        SELECT k.input_key, k.interactions, k.negative_events, k.last_feedback_at,
               v.prompt_versions, x.interaction_id
        FROM ranked k
        JOIN versions v ON v.input_key = k.input_key
        JOIN variants x ON x.input_key = k.input_key
        """,
        params,
    )
    ids = sorted({row["interaction_id"] for row in winners})
    placeholders = ", ".join(f":t{n}" for n in range(len(ids))) or "NULL"
    texts = {
        row["interaction_id"]: row
        for row in store.fetch_all(
            "SELECT interaction_id, user_input, lower(trim(user_input)) AS normalized_input"
            f" FROM llm_interaction_logs WHERE interaction_id IN ({placeholders})",
            {f"t{n}": ident for n, ident in enumerate(ids)},
        )
    }
    merged: dict[Any, dict[str, Any]] = {}
    for row in winners:
        text = texts[row["interaction_id"]]
        found = merged.setdefault(
            row["input_key"],
            {
                "normalized_input": text["normalized_input"],
                "example_input": text["user_input"],
                "interactions": int(row["interactions"]),
                "negative_events": int(row["negative_events"]),
                "prompt_versions": int(row["prompt_versions"]),
                "last_feedback_at": row["last_feedback_at"],
            },
        )
        found["normalized_input"] = min(found["normalized_input"], text["normalized_input"])
        found["example_input"] = min(found["example_input"], text["user_input"])
    ranked = sorted(
        merged.values(),
        key=lambda r: (-r["interactions"], -r["negative_events"], r["normalized_input"]),
    )
    return ranked[:limit]


def regenerated_inputs(
    store: Store,
    *,
    prompt_version: str,
    days: int = 14,
    min_count: int = 2,
    limit: int = 50,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The seed's query: inputs that triggered regeneration more than once, for one version."""
    filters = InteractionFilter(prompt_version=prompt_version, since=_window_start(days, now))
    condition, params = filters.where()
    on_rollup = rollup_condition(store, filters)
    if on_rollup is not None and store.dialect == "duckdb":
        found = _regenerated_by_lookup(store, on_rollup, min_count, limit)
        if found is not None:
            return found
    if on_rollup is not None:
        # Only interactions that were regenerated, each with its count of events: the
        # same groups and sums as joining every event, on narrow rows.
        return store.fetch_all(
            f"""
            SELECT l.user_input, CAST(sum(s.regenerate_events) AS BIGINT) AS regeneration_count
            FROM interaction_signals s
            JOIN llm_interaction_logs l
              ON l.interaction_id = s.interaction_id AND l.timestamp = s.timestamp
            WHERE {on_rollup[0]} AND s.regenerate_events > 0 AND {condition}
            GROUP BY l.user_input
            HAVING sum(s.regenerate_events) >= :min_count
            ORDER BY regeneration_count DESC, l.user_input
            LIMIT :limit
            """,
            {**params, "min_count": min_count, "limit": limit},
        )
    return store.fetch_all(
        f"""
        SELECT l.user_input, count(f.feedback_id) AS regeneration_count
        FROM llm_interaction_logs l
        JOIN feedback_events f ON l.interaction_id = f.interaction_id
        WHERE f.feedback_type = 'regenerate' AND {condition}
        GROUP BY l.user_input
        HAVING count(f.feedback_id) >= :min_count
        ORDER BY regeneration_count DESC, l.user_input
        LIMIT :limit
        """,
        {**params, "min_count": min_count, "limit": limit},
    )


_FLAGS = {
    "thumbs_up": "f.feedback_type = 'thumbs_up'",
    "thumbs_down": "f.feedback_type = 'thumbs_down'",
    "regenerated": "f.feedback_type = 'regenerate'",
    "edited": "f.feedback_type = 'edit'",
    "copied": "f.feedback_type = 'copy'",
    # A copy counts as "without edit" unless the client says it copied edited text; an
    # interaction with any edit event is excluded in _with_rates.
    "copied_unedited": (
        "f.feedback_type = 'copy' AND coalesce(f.metadata->>'edited', 'false') <> 'true'"
    ),
    "abandoned": "f.feedback_type = 'abandon'",
    "followed_up": "f.feedback_type = 'follow_up'",
    "negative": NEGATIVE_CONDITION,
    "responded": f"f.feedback_type IN ({_quoted(EXPLICIT_TYPES)})",
}
# Per-interaction combinations of flags.
_SUMS = {
    "copied_unedited": "sum(CASE WHEN s.copied_unedited = 1 AND s.edited = 0 THEN 1 ELSE 0 END)",
}
RATE_NAMES = {
    "thumbs_up": "thumbs_up_rate",
    "thumbs_down": "thumbs_down_rate",
    "regenerated": "regeneration_rate",
    "edited": "edit_rate",
    "copied": "copy_rate",
    "copied_unedited": "copy_without_edit_rate",
    "abandoned": "abandonment_rate",
    "followed_up": "follow_up_rate",
    "negative": "negative_rate",
    "responded": "response_rate",
}


def version_summary(store: Store, filters: InteractionFilter | None = None) -> list[dict[str, Any]]:
    """Per prompt version (within feature and prompt name): volume, feedback rates, cost.

    Each rate is the share of the version's interactions with at least one such event, so
    its denominator is ``interactions``. ``response_rate`` (the share with any explicit
    feedback) belongs next to the explicit rates: explicit feedback is a biased sample.
    """
    on_rollup = rollup_condition(store, filters)
    if on_rollup is not None:
        return _version_summary_on_rollup(store, *on_rollup)
    condition, params = (filters or InteractionFilter()).where()
    flag_columns = ",\n".join(
        f"max(CASE WHEN {predicate} THEN 1 ELSE 0 END) AS {name}"
        for name, predicate in _FLAGS.items()
    )
    sums = ",\n".join(
        f"{_SUMS.get(name, f'sum(coalesce(s.{name}, 0))')} AS {name}" for name in _FLAGS
    )
    rows = store.fetch_all(
        f"""
        WITH scoped AS (
            SELECT l.interaction_id, l.feature, l.prompt_name, l.prompt_version,
                   l.latency_ms, l.input_tokens, l.output_tokens, l.cost_usd, l.timestamp,
                   l.error
            FROM llm_interaction_logs l WHERE {condition}
        ),
        signals AS (
            SELECT f.interaction_id, {flag_columns}
            FROM feedback_events f
            {semi_join(condition)}
            GROUP BY f.interaction_id
        )
        SELECT l.feature, l.prompt_name, l.prompt_version,
               count(*) AS interactions,
               {sums},
               sum(CASE WHEN l.error IS NOT NULL THEN 1 ELSE 0 END) AS errors,
               avg(l.latency_ms) AS mean_latency_ms,
               avg(l.input_tokens) AS mean_input_tokens,
               avg(l.output_tokens) AS mean_output_tokens,
               sum(l.cost_usd) AS total_cost_usd,
               min(l.timestamp) AS first_seen,
               max(l.timestamp) AS last_seen
        FROM scoped l LEFT JOIN signals s ON s.interaction_id = l.interaction_id
        GROUP BY l.feature, l.prompt_name, l.prompt_version
        ORDER BY l.feature NULLS LAST, l.prompt_name NULLS LAST, min(l.timestamp)
        """,
        params,
    )
    return [_with_rates(row) for row in rows]


# _FLAGS on the rollup: the interaction had such an event iff its first one is recorded.
ROLLUP_FLAGS = {
    "thumbs_up": "first_thumbs_up_at",
    "thumbs_down": "first_thumbs_down_at",
    "regenerated": "first_regenerate_at",
    "edited": "first_edit_at",
    "copied": "first_copy_at",
    "copied_unedited": "first_copy_unedited_at",
    "abandoned": "first_abandon_at",
    "followed_up": "first_follow_up_at",
    "negative": "first_negative_at",
    "responded": "first_response_at",
}


def rollup_count(column: str, alias: str = "s", unless: str | None = None) -> str:
    """How many rows have ``column`` set (and ``unless`` not set)."""
    condition = f"{alias}.{column} IS NOT NULL"
    if unless:
        condition += f" AND {alias}.{unless} IS NULL"
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _version_summary_on_rollup(
    store: Store, condition: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    sums = ",\n".join(
        f"{rollup_count(column, unless='first_edit_at' if name == 'copied_unedited' else None)}"
        f" AS {name}"
        for name, column in ROLLUP_FLAGS.items()
    )
    rows = store.fetch_all(
        f"""
        SELECT s.feature, s.prompt_name, s.prompt_version,
               count(*) AS interactions,
               {sums},
               sum(s.has_error) AS errors,
               avg(s.latency_ms) AS mean_latency_ms,
               avg(s.input_tokens) AS mean_input_tokens,
               avg(s.output_tokens) AS mean_output_tokens,
               sum(s.cost_usd) AS total_cost_usd,
               min(s.timestamp) AS first_seen,
               max(s.timestamp) AS last_seen
        FROM interaction_signals s
        WHERE {condition}
        GROUP BY s.feature, s.prompt_name, s.prompt_version
        ORDER BY s.feature NULLS LAST, s.prompt_name NULLS LAST, min(s.timestamp)
        """,
        params,
    )
    return [_with_rates(row) for row in rows]


def semi_join(condition: str) -> str:
    """Restrict feedback to production events (users and inference) of the scoped
    interactions; every interaction may be in scope."""
    if condition == "TRUE":
        return f"WHERE {PRODUCTION_CONDITION}"
    scoped = "f.interaction_id IN (SELECT interaction_id FROM scoped)"
    return f"WHERE {PRODUCTION_CONDITION} AND {scoped}"


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    total = int(row["interactions"])
    out = dict(row)
    for name in (*_FLAGS, "errors"):
        out[name] = int(row[name] or 0)
    for flag, rate in RATE_NAMES.items():
        out[rate] = out[flag] / total if total else None
    out["error_rate"] = out["errors"] / total if total else None
    for name in ("mean_latency_ms", "mean_input_tokens", "mean_output_tokens", "total_cost_usd"):
        out[name] = None if row[name] is None else float(row[name])
    return out


def with_window(
    filters: InteractionFilter | None, days: int | None, now: datetime | None = None
) -> InteractionFilter:
    """A filter narrowed to the last ``days`` days (when given)."""
    base = filters or InteractionFilter()
    return base if days is None else replace(base, since=_window_start(days, now))


def edit_summary(store: Store, filters: InteractionFilter | None = None) -> list[dict[str, Any]]:
    """Where the model fell short, in aggregate: how users edited each version's outputs."""
    condition, params = (filters or InteractionFilter()).where()
    rows = store.fetch_all(
        f"""
        SELECT l.feature, l.prompt_name, l.prompt_version,
               count(*) AS edits,
               count(DISTINCT e.interaction_id) AS edited_interactions,
               avg(e.edit_distance_ratio) AS mean_edit_distance_ratio,
               avg(e.length_change) AS mean_length_change,
               avg(e.words_added) AS mean_words_added,
               avg(e.words_removed) AS mean_words_removed,
               sum(CASE WHEN e.direction = 'shortened' THEN 1 ELSE 0 END) AS shortened,
               sum(CASE WHEN e.direction = 'lengthened' THEN 1 ELSE 0 END) AS lengthened,
               sum(CASE WHEN e.direction = 'rewritten' THEN 1 ELSE 0 END) AS rewritten,
               sum(CASE WHEN e.direction = 'minor' THEN 1 ELSE 0 END) AS minor
        FROM edit_analyses e
        JOIN llm_interaction_logs l ON l.interaction_id = e.interaction_id
        WHERE {condition}
        GROUP BY l.feature, l.prompt_name, l.prompt_version
        ORDER BY l.feature NULLS LAST, l.prompt_name NULLS LAST, l.prompt_version
        """,
        params,
    )
    floats = (
        "mean_edit_distance_ratio",
        "mean_length_change",
        "mean_words_added",
        "mean_words_removed",
    )
    return [
        {**row, **{name: None if row[name] is None else float(row[name]) for name in floats}}
        for row in rows
    ]
