"""kill -9 under load: every acknowledged event is stored exactly once after a restart.

Several clients post interactions and feedback at full speed; the collector is SIGKILLed
mid-stream, restarted on the same data directory, and the store is read back through the
query API. The long version (``make reliability``) kills it repeatedly, on ClickHouse too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.scenarios import kill_under_load, subprocess_store_url


@pytest.fixture(params=["duckdb", "postgresql"])
def collector_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/store.duckdb"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_kill_9_while_clients_ingest_loses_and_duplicates_nothing(
    collector_store: str, tmp_path: Path
) -> None:
    figures = kill_under_load(
        collector_store,
        tmp_path / "data",
        kills=1,
        clients=3,
        acked_before_kill=600,
        restart_in_process=True,
    )
    assert figures.acknowledged >= 600
    assert figures.acknowledged_missing == 0, figures
    assert figures.duplicates == 0, figures
    assert figures.acknowledged <= figures.stored <= figures.attempted, figures
    assert figures.feedback_acknowledged <= figures.feedback_stored <= figures.feedback_attempted, (
        figures
    )


@pytest.mark.reliability
@pytest.mark.parametrize("kills", [5])
def test_repeated_kill_9_on_every_backend(store_url: str, tmp_path: Path, kills: int) -> None:
    url = subprocess_store_url(store_url, tmp_path)
    figures = kill_under_load(
        url, tmp_path / "data", kills=kills, clients=4, acked_before_kill=5000
    )
    assert figures.holds, figures
