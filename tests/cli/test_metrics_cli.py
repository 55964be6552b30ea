"""``promptloop metrics`` and ``promptloop compare`` on a store with a planted difference."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from promptloop.store import open_store
from tests.cli.conftest import cli
from tests.support.records import T0, feedback, interaction


def _store(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path}/m.duckdb"
    store = open_store(url)
    for version, regenerated, offset in (("1.4.0", 90, 0), ("1.5.0", 30, 1)):
        records = [
            interaction(
                feature="summarize",
                prompt_version=version,
                timestamp=T0 + timedelta(days=offset, minutes=i),
                metadata={"ab_variant": "A" if i % 2 else "B"},
            )
            for i in range(600)
        ]
        store.insert_interactions(records)
        store.insert_feedback(
            [feedback(r.interaction_id, "regenerate") for r in records[:regenerated]]
        )
    store.close()
    return url


def test_metrics_json_has_intervals_and_buckets(tmp_path: Path) -> None:
    url = _store(tmp_path)
    result = cli(["--store", url, "metrics", "--by", "prompt_version", "--bucket", "day", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["items"]
    assert [(r["prompt_version"], r["interactions"]) for r in rows] == [
        ("1.4.0", 600),
        ("1.5.0", 600),
    ]
    regen = rows[0]["rates"]["regeneration"]
    assert regen["count"] == 90 and regen["low"] < 0.15 < regen["high"]
    table = cli(["--store", url, "metrics", "--feature", "summarize"])
    assert table.exit_code == 0 and "15.0% [" in table.stdout


def test_compare_prints_the_verdict(tmp_path: Path) -> None:
    url = _store(tmp_path)
    result = cli(
        ["--store", url, "compare", "--feature", "summarize", "--rate", "regeneration", "--json"]
    )
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["comparisons"]
    assert row["summary"].startswith("1.5.0 lowers regeneration from 15.0% to 5.0%")
    variants = cli(
        [
            "--store",
            url,
            "compare",
            "--feature",
            "summarize",
            "--variant-key",
            "ab_variant",
            "--json",
        ]
    )
    assert set(json.loads(variants.stdout)["groups"]) == {"A", "B"}
    lonely = cli(["--store", url, "compare", "--feature", "nothing"])
    assert lonely.exit_code == 2 and "at least two groups" in lonely.output
