"""Soak (``make reliability`` only): sustained ingest plus dashboard reads, bounded in time,
on 127.0.0.1. Nothing acknowledged goes missing, no request fails with a server error, and
the collector's memory stops growing (its last third peaks no higher than its first two
thirds plus a margin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.scenarios import soak


@pytest.mark.reliability
def test_sustained_ingest_and_reads_hold(tmp_path: Path) -> None:
    figures = soak(f"duckdb:///{tmp_path}/s.duckdb", tmp_path / "data", seconds=90)
    assert figures["events_acknowledged"] > 0
    assert figures["acknowledged_missing"] == 0, figures
    server_errors = {
        answer: count
        for answer, count in figures["answers"].items()
        if answer.split()[1].startswith("5") and not answer.endswith("503")
    }
    assert server_errors == {}, figures
    rss = [mb for _, mb in figures["rss_mb_over_time"]]
    cut = 2 * len(rss) // 3
    assert max(rss[cut:]) <= max(rss[:cut]) * 1.5 + 64, figures
