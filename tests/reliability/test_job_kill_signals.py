"""SIGKILL the signal-inference job mid-run, rerun it: the store ends exactly as after one
uninterrupted run (inferred events, edit analyses, job state, the interaction_signals
rollup), whichever write it died after."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promptloop.demo import load_demo
from promptloop.signals.jobs import run_signals
from promptloop.store import Store, open_store, rollup
from tests.support.killed_job import killed, run_job

END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FIRST_RUN = END + timedelta(hours=1)
NOW = END + timedelta(days=1, hours=2)


def _snapshot(store: Store) -> dict[str, Any]:
    """Everything the job writes, without wall-clock columns."""
    return {
        "inferred": store.fetch_all(
            "SELECT feedback_id, interaction_id, feedback_type, category, value, source,"
            " related_interaction_id, metadata, timestamp FROM feedback_events"
            " WHERE source = 'inferred' ORDER BY feedback_id"
        ),
        "edits": store.fetch_all(
            "SELECT * EXCLUDE (computed_at) FROM edit_analyses ORDER BY feedback_id"
        ),
        "state": store.fetch_all("SELECT job, watermark, last_now FROM signal_job_state"),
        "rollup": store.fetch_all(f"SELECT * FROM {rollup.TABLE} ORDER BY interaction_id"),
        "rollup_drift": store.fetch_all(rollup.differences_sql(store.dialect)),
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store after a first run, with new traffic since: the next run inserts new
    inferred events and retracts old ones (late copies end suspected abandonments)."""
    path = tmp_path_factory.mktemp("signals-kill") / "base.duckdb"
    store = open_store(f"duckdb:///{path}")
    try:
        load_demo(store, interactions=300, end=END, seed=11, days=2)
        run_signals(store, now=FIRST_RUN)
        abandoned = store.fetch_all(
            "SELECT interaction_id FROM feedback_events WHERE source = 'inferred'"
            " AND feedback_type = 'abandon' ORDER BY interaction_id LIMIT 5"
        )
        from tests.support.records import feedback

        store.insert_feedback(
            [feedback(row["interaction_id"], "copy", timestamp=END) for row in abandoned]
        )
        load_demo(store, interactions=200, end=END + timedelta(days=1), seed=12, days=1)
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def reference(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    """One uninterrupted run in a subprocess: its result and how many writes it made."""
    path = tmp_path_factory.mktemp("signals-ref") / "ref.duckdb"
    shutil.copyfile(base, path)
    run = run_job(path, "signals", NOW.isoformat())
    assert run.returncode == 0, run.stderr
    assert run.writes is not None and run.writes >= 4
    store = open_store(f"duckdb:///{path}")
    try:
        snapshot = _snapshot(store)
    finally:
        store.close()
    assert snapshot["rollup_drift"] == []
    assert snapshot["inferred"], "the run should infer events"
    return snapshot, run.writes


# make test runs the fast points; make reliability (marker) the others too.
@pytest.mark.parametrize(
    "point", ["middle", "last", pytest.param("first", marks=pytest.mark.reliability)]
)
def test_killed_signal_job_reruns_to_the_uninterrupted_result(
    base: Path, reference: tuple[dict[str, Any], int], tmp_path: Path, point: str
) -> None:
    expected, writes = reference
    kill_after = {"first": 1, "middle": max(1, writes // 2), "last": writes - 1}[point]
    path = tmp_path / "killed.duckdb"
    shutil.copyfile(base, path)
    run = run_job(path, "signals", NOW.isoformat(), kill_after=kill_after)
    assert killed(run), f"expected SIGKILL after write {kill_after}: {run.stderr}"

    store = open_store(f"duckdb:///{path}")
    try:
        run_signals(store, now=NOW)
        assert _snapshot(store) == expected
    finally:
        store.close()
