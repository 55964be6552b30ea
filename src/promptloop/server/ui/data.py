"""What the dashboard pages show, computed from the store: plain functions returning dicts.

The interaction list reuses the API's keyset cursor (``queries._encode_cursor``) and adds
what the explorer needs beyond :class:`~promptloop.analytics.queries.InteractionFilter`:
a feedback *category*, and full-text search over inputs and outputs. Searches and feedback
filters are answered newest-first in widening time windows (1, 7, 30, 365 days, then all),
stopping as soon as a page is full: on an append-mostly store DuckDB prunes the older row
groups by their timestamp min/max, so a page of a common term costs a scan of a day or a
week, not of every row.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from promptloop.analytics import queries
from promptloop.analytics.metrics import RATES
from promptloop.analytics.queries import LIST_COLUMNS, NEGATIVE_CONDITION, InteractionFilter
from promptloop.analytics.stats import wilson
from promptloop.core.records import as_utc
from promptloop.store.base import Store

# The headline rates, in the order the overview shows them: (key, label, lower is better).
HEADLINE = (
    ("regeneration", "Regeneration", True),
    ("thumbs_down", "Thumbs-down", True),
    ("edit", "Edit", True),
    ("abandonment", "Abandonment", True),
    ("follow_up", "Follow-up", True),
)
# thumbs-down is shown with the response rate: explicit feedback is a biased sample.
FLAGS = ("regeneration", "thumbs_down", "edit", "abandonment", "follow_up", "response", "negative")
SEARCH_WINDOWS_DAYS = (1, 3, 7, 14, 30, 90, 365)
# Feedback may be recorded a little before its interaction (client clocks): margin for the
# feedback-side time bound of windowed searches.
FEEDBACK_SKEW = timedelta(days=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _flag_columns(names: tuple[str, ...] = FLAGS) -> str:
    return ",\n".join(
        f"max(CASE WHEN {RATES[name][0]} THEN 1 ELSE 0 END) AS {name}" for name in names
    )


# ---------------------------------------------------------------------- overview


def _daily_flags(
    store: Store,
    group: str,
    since: datetime,
    until: datetime,
    names: tuple[str, ...],
    extra: tuple[str, dict[str, Any]] = ("TRUE", {}),
) -> list[dict[str, Any]]:
    """Per ``l.<group>`` and day: interactions, and how many had each flag in ``names``."""
    sums = ", ".join(f"sum(coalesce(s.{name}, 0)) AS {name}" for name in names)
    condition, params = extra
    return store.fetch_all(
        f"""
        WITH scoped AS (
            SELECT l.interaction_id, l.{group} AS grp, date_trunc('day', l.timestamp) AS bucket
            FROM llm_interaction_logs l
            WHERE l.timestamp >= :since AND l.timestamp < :until AND {condition}
        ),
        signals AS (
            SELECT f.interaction_id, {_flag_columns(names)}
            FROM feedback_events f
            WHERE f.timestamp >= :fsince
              AND f.interaction_id IN (SELECT interaction_id FROM scoped)
            GROUP BY f.interaction_id
        )
        SELECT l.grp, l.bucket, count(*) AS interactions, {sums}
        FROM scoped l LEFT JOIN signals s ON s.interaction_id = l.interaction_id
        GROUP BY l.grp, l.bucket
        ORDER BY l.grp NULLS LAST, l.bucket
        """,
        {**params, "since": since, "until": until, "fsince": since - FEEDBACK_SKEW},
    )


def headline(store: Store, *, days: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per feature: each headline rate with its Wilson interval and a daily series."""
    now = as_utc(now or utcnow())
    since = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = _daily_flags(store, "feature", since, now + timedelta(minutes=1), FLAGS)
    features: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row["grp"] or "(no feature)"
        entry = features.setdefault(
            name,
            {
                "feature": row["grp"],
                "label": name,
                "interactions": 0,
                "series": [],
                "counts": dict.fromkeys(FLAGS, 0),
            },
        )
        n = int(row["interactions"])
        entry["interactions"] += n
        point: dict[str, Any] = {"bucket": row["bucket"], "interactions": n}
        for flag in FLAGS:
            count = int(row[flag] or 0)
            entry["counts"][flag] += count
            point[flag] = count / n if n else None
        entry["series"].append(point)
    out = []
    for entry in features.values():
        total = entry["interactions"]
        entry["rates"] = {
            flag: wilson(count, total).as_dict() for flag, count in entry.pop("counts").items()
        }
        out.append(entry)
    out.sort(key=lambda e: -e["interactions"])
    return out


SERIES_RATES = tuple(RATES)


def version_series(
    store: Store, prompt_name: str, *, since: datetime, now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per version of a prompt: each day's interactions and rates (no intervals: a chart)."""
    until = as_utc(now or utcnow()) + timedelta(minutes=1)
    rows = _daily_flags(
        store,
        "prompt_version",
        as_utc(since),
        until,
        SERIES_RATES,
        ("l.prompt_name = :prompt_name", {"prompt_name": prompt_name}),
    )
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        n = int(row["interactions"])
        point: dict[str, Any] = {"t": row["bucket"], "n": n}
        point.update({name: int(row[name] or 0) / n if n else None for name in SERIES_RATES})
        lines.setdefault(str(row["grp"]), []).append(point)
    return lines


def active_versions(
    store: Store, *, days: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Prompt versions with traffic in the window, busiest first (for the seed's 2nd question)."""
    since = as_utc(now or utcnow()) - timedelta(days=days)
    return store.fetch_all(
        """
        SELECT prompt_version, min(feature) AS feature, min(prompt_name) AS prompt_name,
               count(*) AS interactions
        FROM llm_interaction_logs
        WHERE timestamp >= :since AND prompt_version IS NOT NULL
        GROUP BY prompt_version ORDER BY interactions DESC LIMIT 20
        """,
        {"since": since},
    )


def recent_deployments(store: Store, *, limit: int = 8) -> list[dict[str, Any]]:
    return store.fetch_all(
        "SELECT * FROM prompt_deployments ORDER BY timestamp DESC LIMIT :limit", {"limit": limit}
    )


# ---------------------------------------------------------------------- explorer


@dataclass(frozen=True)
class ExplorerFilter:
    """The explorer's filters: the API's :class:`InteractionFilter` plus category and search."""

    base: InteractionFilter = field(default_factory=InteractionFilter)
    category: str | None = None
    q: str | None = None

    @property
    def feedback_scoped(self) -> bool:
        b = self.base
        return bool(b.feedback_type or b.feedback_source or self.category)

    @property
    def needs_windows(self) -> bool:
        return bool(self.q) or self.feedback_scoped

    def where(self) -> tuple[str, dict[str, Any]]:
        """Conditions on ``llm_interaction_logs AS l`` (feedback filters: see :meth:`join`)."""
        base = replace(self.base, feedback_type=None, feedback_source=None)
        condition, params = base.where()
        clauses = [condition]
        if self.q:
            clauses.append(_search_clause(self.q, params))
        return " AND ".join(clauses), params

    def join(self, feedback_since: datetime | None, params: dict[str, Any]) -> str:
        """A join to the IDs of interactions with matching feedback (or "" without one).

        A join on the distinct IDs plans better in DuckDB than ``IN (subquery)``; with
        ``feedback_since`` the feedback side is bounded in time too.
        """
        if not self.feedback_scoped:
            return ""
        conditions = []
        if self.base.feedback_type == "negative":
            conditions.append(NEGATIVE_CONDITION)
        elif self.base.feedback_type:
            conditions.append("f.feedback_type = :fb_type")
            params["fb_type"] = self.base.feedback_type
        for column, value in (("source", self.base.feedback_source), ("category", self.category)):
            if value:
                conditions.append(f"f.{column} = :fb_{column}")
                params[f"fb_{column}"] = value
        if feedback_since is not None:
            conditions.append("f.timestamp >= :fb_since")
            params["fb_since"] = feedback_since - FEEDBACK_SKEW
        return (
            " JOIN (SELECT DISTINCT f.interaction_id FROM feedback_events f"
            f" WHERE {' AND '.join(conditions)}) fb ON fb.interaction_id = l.interaction_id"
        )


_WILDCARDS = re.compile(r"[%_\\]")


def _search_clause(q: str, params: dict[str, Any]) -> str:
    """Case-insensitive substring match on input or output (ILIKE when no wildcard in q)."""
    if _WILDCARDS.search(q):
        params["q"] = q.lower()
        return "(strpos(lower(l.user_input), :q) > 0 OR strpos(lower(l.raw_output), :q) > 0)"
    params["q"] = f"%{q}%"
    return "(l.user_input ILIKE :q OR l.raw_output ILIKE :q)"


LIST_SELECT = ", ".join(f"l.{name}" for name in LIST_COLUMNS if name != "metadata")


@dataclass(frozen=True)
class ExplorerPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    # Set when the time budget ran out before the page filled: everything at or after this
    # moment has been searched, and ``next_cursor`` continues from it.
    searched_back_to: datetime | None = None


def _page_query(
    store: Store,
    filters: ExplorerFilter,
    cursor: tuple[datetime, str] | None,
    limit: int,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows, newest first, optionally within ``[window[0], window[1])``."""
    start, end = window
    condition, params = filters.where()
    join = filters.join(start, params)
    if cursor:
        condition += (
            " AND (l.timestamp < :cursor_ts"
            " OR (l.timestamp = :cursor_ts AND l.interaction_id < :cursor_id))"
        )
        params.update(cursor_ts=cursor[0], cursor_id=cursor[1])
    if start is not None:
        condition += " AND l.timestamp >= :window_start"
        params["window_start"] = start
    if end is not None:
        condition += " AND l.timestamp < :window_end"
        params["window_end"] = end
    return store.fetch_all(
        f"SELECT {LIST_SELECT} FROM llm_interaction_logs l{join} WHERE {condition} "
        "ORDER BY l.timestamp DESC, l.interaction_id DESC LIMIT :limit",
        {**params, "limit": limit},
    )


def list_page(
    store: Store,
    filters: ExplorerFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
    budget: float | None = None,
) -> ExplorerPage:
    """One page, newest first, with the API's keyset cursor (raises ValueError on a bad one).

    With a search or a feedback filter, rows are looked for in consecutive, older and wider
    time slices back from the cursor (1, 3, 7, 14, 30, 90, 365 days, then the rest), each
    scanned once. With a ``budget`` (seconds) the search stops after the slice that used it
    up and returns what it found with a cursor that continues from that slice's start.
    """
    if not 1 <= limit <= queries.MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {queries.MAX_PAGE_SIZE}")
    position = queries._decode_cursor(cursor) if cursor else None
    if not filters.needs_windows:
        found = _page_query(store, filters, position, limit + 1)
        more = len(found) > limit
        return ExplorerPage(
            found[:limit], queries._encode_cursor(found[limit - 1]) if more else None
        )
    started = time.perf_counter()
    anchor = as_utc(position[0] if position else (filters.base.until or now or utcnow()))
    floor = as_utc(filters.base.since) if filters.base.since else None
    rows: list[dict[str, Any]] = []
    upper: datetime | None = None
    scanned = 0.0  # days searched so far
    for days in (*SEARCH_WINDOWS_DAYS, None):
        start = None if days is None else anchor - timedelta(days=days)
        if start is not None and floor is not None and start <= floor:
            start = None  # the filter's own ``since`` bounds the last slice
        if budget is not None and upper is not None:
            elapsed = time.perf_counter() - started
            # The next slice costs about its share of days at the pace so far.
            ahead = elapsed / scanned * ((days or 3650) - scanned) if scanned else 0.0
            if elapsed > budget or (start is not None and elapsed + ahead > budget):
                boundary = {"timestamp": upper, "interaction_id": ""}
                return ExplorerPage(rows, queries._encode_cursor(boundary), searched_back_to=upper)
        rows += _page_query(store, filters, position, limit + 1 - len(rows), (start, upper))
        if len(rows) > limit:
            return ExplorerPage(rows[:limit], queries._encode_cursor(rows[limit - 1]))
        if start is None:
            break
        upper = start
        scanned = float(days or 0)
    return ExplorerPage(rows, None)


def iter_rows(
    store: Store, filters: ExplorerFilter, *, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every matching interaction, newest first, fetched page by page (for exports)."""
    cursor: str | None = None
    while True:
        page = list_page(store, filters, limit=batch, cursor=cursor)
        yield from page.rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def facets(store: Store) -> dict[str, list[str]]:
    """Values offered in the explorer's drop-downs (small tables and the recent month only)."""
    since = utcnow() - timedelta(days=90)
    versions = store.fetch_all(
        """
        SELECT DISTINCT feature, prompt_name, prompt_version FROM llm_interaction_logs
        WHERE timestamp >= :since ORDER BY feature, prompt_name, prompt_version
        """,
        {"since": since},
    )
    categories = store.fetch_all(
        "SELECT DISTINCT category FROM feedback_events WHERE timestamp >= :since"
        " AND category IS NOT NULL ORDER BY category",
        {"since": since},
    )
    return {
        "features": sorted({r["feature"] for r in versions if r["feature"]}),
        "prompt_versions": sorted({r["prompt_version"] for r in versions if r["prompt_version"]}),
        "prompt_names": sorted({r["prompt_name"] for r in versions if r["prompt_name"]}),
        "categories": [r["category"] for r in categories],
    }


def feedback_marks(store: Store, ids: list[str]) -> dict[str, list[str]]:
    """For listed interactions: their distinct feedback types (badges in the list)."""
    if not ids:
        return {}
    names = {f"id{i}": value for i, value in enumerate(ids)}
    placeholders = ", ".join(f":{name}" for name in names)
    rows = store.fetch_all(
        "SELECT interaction_id, feedback_type, count(*) AS n FROM feedback_events"
        f" WHERE interaction_id IN ({placeholders}) GROUP BY interaction_id, feedback_type"
        " ORDER BY interaction_id, feedback_type",
        names,
    )
    marks: dict[str, list[str]] = {}
    for row in rows:
        marks.setdefault(row["interaction_id"], []).append(row["feedback_type"])
    return marks


# ---------------------------------------------------------------------- detail

_TOKEN = re.compile(r"\S+|\s+")


def diff_ops(original: str, edited: str) -> list[dict[str, str]]:
    """A word-level diff as segments: ``{"op": equal|delete|insert, "text": ...}``."""
    a, b = _TOKEN.findall(original), _TOKEN.findall(edited)
    out: list[dict[str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append({"op": "equal", "text": "".join(a[i1:i2])})
            continue
        if i2 > i1:
            out.append({"op": "delete", "text": "".join(a[i1:i2])})
        if j2 > j1:
            out.append({"op": "insert", "text": "".join(b[j1:j2])})
    return out


def session_timeline(
    store: Store, session_id: str | None, *, limit: int = 100
) -> list[dict[str, Any]]:
    """The session's interactions in order, each with its feedback types."""
    if not session_id:
        return []
    rows = store.fetch_all(
        """
        SELECT interaction_id, timestamp, feature, prompt_version, user_input,
               parent_interaction_id, error
        FROM llm_interaction_logs WHERE session_id = :sid
        ORDER BY timestamp, interaction_id LIMIT :limit
        """,
        {"sid": session_id, "limit": limit},
    )
    marks = feedback_marks(store, [r["interaction_id"] for r in rows])
    for row in rows:
        row["feedback_types"] = marks.get(row["interaction_id"], [])
    return rows


def edit_analyses(store: Store, interaction_id: str) -> dict[str, dict[str, Any]]:
    rows = store.fetch_all(
        "SELECT * FROM edit_analyses WHERE interaction_id = :id", {"id": interaction_id}
    )
    return {row["feedback_id"]: row for row in rows}


def regenerations(store: Store, interaction_id: str) -> list[dict[str, Any]]:
    """Interactions that regenerated this one (children by parent_interaction_id)."""
    return store.fetch_all(
        "SELECT interaction_id, timestamp, raw_output FROM llm_interaction_logs"
        " WHERE parent_interaction_id = :id ORDER BY timestamp LIMIT 20",
        {"id": interaction_id},
    )


def registered(store: Store, prompt_name: str | None, version: str | None) -> bool:
    if not prompt_name or not version:
        return False
    return bool(
        store.fetch_all(
            "SELECT 1 AS ok FROM prompt_versions WHERE prompt_name = :n AND version = :v",
            {"n": prompt_name, "v": version},
        )
    )
