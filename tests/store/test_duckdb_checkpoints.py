"""DuckDB's log is folded into the file when the store closes and when the collector idles.

The store raises DuckDB's automatic checkpoint threshold (checkpoints inside ingest commits
stalled them), so these are what keep the log, and the next start's replay, short.
"""

from __future__ import annotations

import time
from pathlib import Path

from promptloop.server.ingest import Ingestor
from promptloop.store import open_store
from tests.support.records import interaction


def _log(path: Path) -> int:
    wal = Path(f"{path}.wal")
    return wal.stat().st_size if wal.exists() else 0


def test_closing_the_store_folds_its_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = open_store(f"duckdb:///{path}")
    store.insert_interactions([interaction() for _ in range(200)])
    reader = store.fetch_all("SELECT count(*) AS n FROM llm_interaction_logs")  # a cursor used
    assert reader[0]["n"] == 200 and _log(path) > 0
    store.close()
    assert _log(path) == 0
    reopened = open_store(f"duckdb:///{path}")
    try:
        assert reopened.fetch_all("SELECT count(*) AS n FROM llm_interaction_logs")[0]["n"] == 200
    finally:
        reopened.close()


def test_the_collector_checkpoints_what_start_up_wrote_at_its_first_pause(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    store = open_store(f"duckdb:///{path}")
    store.insert_interactions([interaction() for _ in range(200)])  # e.g. the demo load
    ingestor = Ingestor(store, tmp_path / "wal", flush_interval=3600, checkpoint_idle=3600)
    ingestor.start()
    try:
        assert _log(path) > 0
        assert ingestor.checkpoint_if_idle(now=time.monotonic() + 3600)
        assert _log(path) == 0
    finally:
        ingestor.stop()
        store.close()
