"""``promptloop clusters`` / ``priorities`` / ``triage``: locally on both backends, and
through a real collector, with the same JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptloop.store import open_store
from tests.analytics.test_clusters_data import NOW, build
from tests.cli.conftest import cli, running_collector

AT = ["--now", NOW.isoformat()]


def ok_json(*args: str) -> Any:
    result = cli([*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def planted_url(store_url: str) -> str:
    """A store (DuckDB file or PostgreSQL) holding the planted dataset, closed."""
    store = open_store(store_url)
    build().load(store)
    store.close()
    return store_url


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[str]:
    store = open_store("duckdb:///:memory:")
    build().load(store)
    with running_collector(store, tmp_path / "collector") as url:
        yield url
    store.close()


def test_run_list_show_priorities_triage_locally(planted_url: str) -> None:
    store = ["--store", planted_url]
    report = ok_json(*store, "clusters", "run", *AT)
    assert report["clusters"] == 4 and report["scopes"][0]["inputs"] > 150
    items = ok_json(*store, "clusters", "list")["items"]
    assert len(items) == 4
    travel = next(i for i in items if "flight" in i["label"].split())
    shown = ok_json(*store, "clusters", "show", travel["cluster_id"][:8])
    assert shown["cluster_id"] == travel["cluster_id"]
    assert shown["triage"]["suggestion"] == "product_scope"
    ranked = ok_json(*store, "priorities")["items"]
    assert {r["cluster_id"] for r in ranked} == {i["cluster_id"] for i in items}
    triaged = ok_json(
        *store, "triage", "set", travel["cluster_id"][:8], "product_scope", "--by", "ana",
        "--note", "add a 'not supported' hint in the UI",
    )  # fmt: skip
    assert triaged["triage"]["class"] == "product_scope" and triaged["triage"]["by"] == "ana"
    # A re-run keeps the confirmed class on the cluster that continues this one.
    ok_json(*store, "clusters", "run", *AT)
    again = ok_json(*store, "clusters", "show", travel["cluster_id"])
    assert again["cluster_id"] != travel["cluster_id"]
    assert again["triage"]["class"] == "product_scope"
    assert len(ok_json(*store, "clusters", "list", "--all")["items"]) == 8


def test_tables(planted_url: str) -> None:
    store = ["--store", planted_url]
    run = cli([*store, "clusters", "run", *AT])
    assert run.exit_code == 0, run.output
    assert "negative clusters on the store" in run.stdout and "notes_help" in run.stdout
    listed = cli([*store, "clusters", "list"])
    assert listed.exit_code == 0 and "failure clusters" in listed.stdout
    assert "flight" in listed.stdout and "product_scope?" in listed.stdout
    ranked = cli([*store, "priorities", "--limit", "2"])
    assert ranked.exit_code == 0 and "priorities" in ranked.stdout
    cluster_id = ok_json(*store, "clusters", "list")["items"][0]["cluster_id"]
    shown = cli([*store, "clusters", "show", cluster_id])
    assert shown.exit_code == 0 and "examples nearest the centre" in shown.stdout
    assigned = cli([*store, "clusters", "assign", *AT])
    assert assigned.exit_code == 0 and "assigned 0" in assigned.stdout


def test_assign_locally(planted_url: str) -> None:
    store = ["--store", planted_url]
    ok_json(*store, "clusters", "run", *AT)
    report = ok_json(*store, "clusters", "assign", *AT)
    assert report["assigned"] == 0 and report["unassigned"] == 0
    assert report["scopes"][0]["feature"] == "notes_help"


def test_empty_store(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/empty.duckdb"
    open_store(url).close()
    assert ok_json("--store", url, "clusters", "list") == {"items": []}
    listed = cli(["--store", url, "clusters", "list"])
    assert "no clusters" in listed.stdout
    assert ok_json("--store", url, "priorities")["items"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clusters", "run", "--kind", "nope"], "--kind: unknown cluster kind 'nope'"),
        (["clusters", "run", "--signal", "love"], "--signal: unknown signal 'love'"),
        (["clusters", "run", "--embedding", "magic"], "--embedding: unknown embedding"),
        (["clusters", "run", "--pooled", "--feature", "x"], "--pooled: give --feature"),
        (["clusters", "run", "--now", "soon"], "--now: 'soon' is not an ISO-8601"),
        (
            ["triage", "set", "abcdef12", "later", "--by", "ana"],
            "TRIAGE_CLASS: unknown triage class",
        ),
        (["triage", "set", "abcdef12", "product_scope", "--by", " "], "--by: who triaged"),
    ],
)
def test_bad_input_exits_2(planted_url: str, args: list[str], message: str) -> None:
    result = cli(["--store", planted_url, *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}")


def test_unknown_cluster_exits_1(planted_url: str) -> None:
    result = cli(["--store", planted_url, "clusters", "show", "abcdef12"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no cluster abcdef12"


def test_through_the_collector(collector: str) -> None:
    remote = ["--url", collector]
    report = ok_json(*remote, "clusters", "run", *AT)
    assert report["clusters"] == 4
    items = ok_json(*remote, "clusters", "list")["items"]
    first = items[0]["cluster_id"]
    assert ok_json(*remote, "clusters", "show", first)["cluster_id"] == first
    assert ok_json(*remote, "clusters", "show", first[:8])["cluster_id"] == first
    ranked = ok_json(*remote, "priorities", "--limit", "3")
    assert len(ranked["items"]) == 3 and "quadrants" in ranked
    done = ok_json(*remote, "triage", "set", first, "model_limitation", "--by", "bo")
    assert done["triage"]["class"] == "model_limitation"
    assert ok_json(*remote, "clusters", "assign", *AT)["assigned"] == 0
    missing = cli([*remote, "clusters", "show", "abcdef12"])
    assert missing.exit_code == 1 and "404" in missing.stderr
    table = cli([*remote, "priorities"])
    assert table.exit_code == 0 and "priorities" in table.stdout


def test_local_and_remote_print_the_same_json(tmp_path: Path, collector: str) -> None:
    url = f"duckdb:///{tmp_path}/same.duckdb"
    store = open_store(url)
    build().load(store)
    store.close()
    ok_json("--store", url, "clusters", "run", *AT)
    ok_json("--url", collector, "clusters", "run", *AT)
    local = ok_json("--store", url, "clusters", "list")["items"]
    remote = ok_json("--url", collector, "clusters", "list")["items"]

    def shape(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((i["label"], i["size"], i["share"]["rate"], i["trend"]) for i in items)

    assert shape(local) == shape(remote)
    assert set(local[0]) == set(remote[0])
