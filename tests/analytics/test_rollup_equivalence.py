"""Every query answered from the interaction_signals rollup equals the same query on the
two tables themselves (the store with its rollup hidden), on DuckDB and PostgreSQL.

The data is shaped to catch the differences a rollup could introduce: feedback that
arrives before its interaction and with clocks behind it, retried batches, ratings around
the negative threshold, copies flagged as edited, errors, missing inputs, inputs that
differ only in case and spaces (and ties between groups), inferred events that the signal
job later retracts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from promptloop.analytics import queries as q
from promptloop.analytics.alerts import store as alert_sql
from promptloop.analytics.compare import compare
from promptloop.analytics.metrics import Slicing, rate_metrics
from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.signals.jobs import run_signals
from promptloop.store import Store, open_store, rollup
from tests.support.records import T0, feedback, interaction

NOW = T0 + timedelta(days=10)
FEATURES = ("chat", "summarize", "draft")
VERSIONS = {"chat": ("1.0.0", "1.1.0"), "summarize": ("2.0.0",), "draft": ("3.0.0", "3.1.0")}
INPUTS = ("Export to PDF?", "export to pdf?", "  Export to PDF?  ", "Reset password", "Sync")
KINDS = (
    "thumbs_up",
    "thumbs_down",
    "regenerate",
    "copy",
    "edit",
    "abandon",
    "follow_up",
    "rating",
    "correction",
    "report",
)


class WithoutRollup:
    """The same store, with its rollup hidden: analytics query the two tables."""

    signal_rollup = False

    def __init__(self, store: Store) -> None:
        self._store = store
        self.dialect = store.dialect
        self.url = store.url

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        assert rollup.TABLE not in sql
        return self._store.fetch_all(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _records(rng: random.Random) -> tuple[list[Interaction], list[FeedbackEvent]]:
    logs: list[Interaction] = []
    for i in range(240):
        feature = FEATURES[i % 3]
        logs.append(
            interaction(
                session_id=f"s-{i // 4}",
                feature=feature,
                prompt_version=rng.choice(VERSIONS[feature]),
                model=rng.choice(("model-a", "model-b")),
                user_input=None if i % 37 == 0 else rng.choice(INPUTS),
                error="timeout" if i % 29 == 0 else None,
                latency_ms=float(rng.randint(50, 3000)),
                input_tokens=rng.randint(5, 500),
                output_tokens=rng.randint(5, 800),
                cost_usd=round(rng.random() / 100, 6),
                timestamp=T0 + timedelta(minutes=60 * i / 1.0 + rng.randint(0, 59)),
            )
        )
    events: list[FeedbackEvent] = []
    for j in range(700):
        target = logs[rng.randrange(len(logs))]
        kind = rng.choice(KINDS)
        # Mostly after the interaction; some with a clock behind it.
        offset = timedelta(seconds=rng.randint(-5400, 7200))
        events.append(
            feedback(
                target.interaction_id,
                kind,
                timestamp=target.timestamp + offset,
                value=float(rng.randint(1, 5)) if kind == "rating" else None,
                user_edit="better text" if kind in ("edit", "correction") else None,
                metadata={"edited": True} if kind == "copy" and j % 3 == 0 else {},
            )
        )
    return logs, events


def _skewed() -> list[Interaction]:
    """Interactions inside the alert windows below with one event from a clock a day
    behind (before the window's feedback bound) and one inside it: they must count."""
    return [
        interaction(feature="chat", prompt_version="1.0.0", timestamp=T0 + timedelta(days=d))
        for d in (1, 3)
    ]


def _load(store: Store) -> None:
    rng = random.Random(20261127)
    logs, events = _records(rng)
    store.insert_feedback(events[:200])  # before their interactions
    store.insert_interactions(logs[:120])
    store.insert_feedback(events[150:450])  # a retried overlap
    store.insert_interactions(logs[100:])
    store.insert_feedback(events[400:])
    store.insert_interactions(skewed := _skewed())
    store.insert_feedback(
        [
            feedback(
                log.interaction_id,
                kind,
                timestamp=when,
                user_edit="better text" if kind == "edit" else None,
            )
            for log in skewed
            for kind in ("regenerate", "thumbs_down", "edit", "abandon")
            for when in (T0 - timedelta(days=1), log.timestamp + timedelta(minutes=1))
        ]
    )
    run_signals(store, now=NOW)
    # Late positive signals retract some inferred abandonments.
    late = [feedback(e.interaction_id, "copy", timestamp=NOW) for e in events[:40:4]]
    store.insert_feedback(late)
    run_signals(store, now=NOW + timedelta(minutes=1))


@pytest.fixture(scope="module", params=("duckdb", "postgresql", "clickhouse"))
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('equiv')}/store.duckdb"
    elif request.param == "clickhouse":  # chdb: materialized views keep the rollup
        url = request.getfixturevalue("chdb_conformance").url()
    else:
        from tests.support.pgserver import create_database

        url = create_database(request.getfixturevalue("pg_server"), "rollup_equivalence")
    store = open_store(url)
    _load(store)
    yield store
    store.close()


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        # Sums of doubles in another order differ in the last bits: compare 9 digits.
        return None if math.isnan(value) else float(f"{value:.9g}")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_normal(item) for item in value]
    if hasattr(value, "rows"):  # a Page
        return {"rows": _normal(value.rows), "next": value.next_cursor}
    return value


Query = Callable[[Any], Any]


def _listed(kind: str) -> Query:
    return lambda s: q.list_interactions(s, q.InteractionFilter(feedback_type=kind))


def _regenerated(version: str, min_count: int) -> Query:
    return lambda s: q.regenerated_inputs(s, prompt_version=version, min_count=min_count, now=NOW)


def _alert_window(metric: str) -> Query:
    return lambda s: alert_sql.window_rows(
        s, metric, start=T0 + timedelta(days=2), cutoff=NOW, now=NOW, bucket_seconds=3600
    )


def _alert_baseline(metric: str) -> Query:
    return lambda s: alert_sql.baseline_rows(
        s,
        metric,
        start=T0,
        end=T0 + timedelta(days=4),
        recorded_before=T0 + timedelta(days=4, hours=3),
    )


def _cases() -> list[tuple[str, Query]]:
    f = q.InteractionFilter
    week = f(since=NOW - timedelta(days=7))
    cases: list[tuple[str, Query]] = []
    cases += [
        (f"list_{kind}", _listed(kind))
        for kind in ("thumbs_down", "regenerate", "copy", "rating", "follow_up")
    ]
    cases += [
        (
            "list_paged",
            lambda s: q.list_interactions(
                s,
                f(feedback_type="regenerate", feature="chat"),
                limit=7,
                cursor=q.list_interactions(s, f(feedback_type="regenerate"), limit=7).next_cursor,
            ),
        ),
        (
            "list_session",
            lambda s: q.list_interactions(s, f(feedback_type="copy", session_id="s-3")),
        ),
        ("top_negative", lambda s: q.top_negative_inputs(s, days=14, now=NOW)),
        ("top_negative_2", lambda s: q.top_negative_inputs(s, days=14, limit=2, now=NOW)),
        ("top_negative_chat", lambda s: q.top_negative_inputs(s, feature="chat", now=NOW)),
        ("top_negative_3d", lambda s: q.top_negative_inputs(s, days=3, now=NOW)),
        ("summary_all", lambda s: q.version_summary(s)),
        ("summary_week", lambda s: q.version_summary(s, week)),
        ("summary_model", lambda s: q.version_summary(s, f(model="model-b"))),
        ("summary_feedback", lambda s: q.version_summary(s, f(feedback_type="thumbs_down"))),
        ("summary_source", lambda s: q.version_summary(s, f(feedback_source="inferred"))),
        ("metrics", lambda s: rate_metrics(s)),
        ("metrics_day", lambda s: rate_metrics(s, week, Slicing(bucket="day"))),
        ("metrics_hour", lambda s: rate_metrics(s, f(feature="chat"), Slicing(bucket="hour"))),
        ("metrics_week", lambda s: rate_metrics(s, None, Slicing(by=("model",), bucket="week"))),
        ("metrics_none", lambda s: rate_metrics(s, f(until=NOW), Slicing(by=()))),
        ("compare", lambda s: compare(s, feature="chat")),
        ("compare_week", lambda s: compare(s, feature="draft", since=NOW - timedelta(days=7))),
    ]
    for version in ("1.0.0", "1.1.0", "3.0.0"):
        for min_count in (1, 2):
            cases.append((f"regenerated_{version}_{min_count}", _regenerated(version, min_count)))
    for metric in ("regeneration", "negative", "edit"):
        cases.append((f"alert_window_{metric}", _alert_window(metric)))
        cases.append((f"alert_baseline_{metric}", _alert_baseline(metric)))
    return cases


def _sorted_rows(value: Any) -> Any:
    """Alert rows come back in no particular order."""
    return sorted(value, key=repr) if isinstance(value, list) else value


@pytest.mark.parametrize(("name", "query"), _cases(), ids=[name for name, _ in _cases()])
def test_rollup_answers_equal_the_tables(loaded: Store, name: str, query: Query) -> None:
    plain = WithoutRollup(loaded)
    expected = _normal(query(plain))
    found = _normal(query(loaded))
    if name.startswith("alert"):
        expected, found = _sorted_rows(expected), _sorted_rows(found)
    assert found == expected
    assert expected, f"{name}: the data should make this query return something"


def test_the_rollup_is_what_the_tables_say(loaded: Store) -> None:
    assert loaded.fetch_all(rollup.differences_sql(loaded.dialect)) == []
