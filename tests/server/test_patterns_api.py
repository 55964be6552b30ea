"""Failure patterns over HTTP, on both backends: run, list, show, assign, priorities, triage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store.base import Store
from tests.analytics.test_clusters_data import FEATURE, NOW, Builder, Dataset, build


@pytest.fixture
def planted(store: Store) -> Dataset:
    return build().load(store)


@pytest.fixture
def api(store: Store, planted: Dataset, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(store_url=store.url, data_dir=tmp_path / "data", api_keys=frozenset())
    with TestClient(create_app(settings, store=store)) as client:
        yield client


def run(api: TestClient, **body: object) -> dict[str, object]:
    response = api.post("/v1/clusters/run", json={"now": NOW.isoformat(), **body})
    assert response.status_code == 200, response.text
    found: dict[str, object] = response.json()
    return found


def test_run_list_show(api: TestClient, planted: Dataset) -> None:
    report = run(api)
    assert report["kind"] == "negative" and report["clusters"] == 4
    items = api.get("/v1/clusters").json()["items"]
    assert len(items) == 4 and all(item["feature"] == FEATURE for item in items)
    travel = next(item for item in items if "flight" in item["label"].split())
    shown = api.get(f"/v1/clusters/{travel['cluster_id']}").json()
    assert shown["cluster_id"] == travel["cluster_id"]
    assert len(shown["trend"]) == 4 and shown["examples"]
    assert shown["share"]["n"] == len(planted.interactions)
    assert shown["triage"]["suggestion"] == "product_scope"
    assert shown["triage"]["evidence"]["scope"]["ratio"] < 0.4
    assert api.get("/v1/clusters", params={"kind": "follow_up"}).json()["items"] == []
    assert api.get("/v1/clusters", params={"feature": "nope"}).json()["items"] == []


def test_errors(api: TestClient) -> None:
    missing = api.get("/v1/clusters/0b5e6b4e-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad_kind = api.post("/v1/clusters/run", json={"kind": "nope"})
    assert bad_kind.status_code == 422 and bad_kind.json()["error"] == "invalid_request"
    bad_signal = api.post("/v1/clusters/run", json={"signals": ["love"]})
    assert bad_signal.status_code == 422 and "unknown signals" in bad_signal.json()["message"]
    bad_embedding = api.post("/v1/clusters/run", json={"embedding": "magic"})
    assert bad_embedding.status_code == 422 and "unknown embedding" in bad_embedding.text
    triage = api.post("/v1/clusters/nope/triage", json={"class": "product_scope", "by": "ana"})
    assert triage.status_code == 404


def test_assign_adds_new_interactions(api: TestClient, store: Store) -> None:
    run(api)
    b = Builder(seed=7)
    later = NOW + timedelta(hours=2)
    new = b.interaction("Can you book a hotel in Rome for my trip?", later)
    b.signal(new, "thumbs_down", category="off_topic")
    b.data.load(store)
    report = api.post(
        "/v1/clusters/assign", json={"now": (later + timedelta(hours=1)).isoformat()}
    ).json()
    assert report["assigned"] == 1 and report["unassigned"] == 0
    [cluster_id] = report["scopes"][0]["by_cluster"]
    assert "flight" in api.get(f"/v1/clusters/{cluster_id}").json()["label"].split()
    assert api.post("/v1/clusters/assign").status_code == 200  # no body: every scope


def test_priorities_in_order_with_evidence(api: TestClient) -> None:
    run(api)
    body = api.get("/v1/priorities").json()
    items = body["items"]
    assert [item["rank"] for item in items] == list(range(1, len(items) + 1))
    order = list(body["quadrants"])
    assert [order.index(i["quadrant"]) for i in items] == sorted(
        order.index(i["quadrant"]) for i in items
    )
    for item in items:
        assert item["frequency"]["share"]["low"] <= item["frequency"]["share"]["rate"]
        assert 0 <= item["severity"]["score"] <= 1
        assert item["action"] == body["quadrants"][item["quadrant"]]
    assert len(api.get("/v1/priorities", params={"limit": 2}).json()["items"]) == 2
    everything_severe = api.get("/v1/priorities", params={"severe_at": 0}).json()["items"]
    assert all(i["quadrant"].endswith("_severe") for i in everything_severe)
    assert api.get("/v1/priorities", params={"severe_at": 2}).status_code == 422


def test_triage_is_confirmed_and_survives_a_rerun(api: TestClient) -> None:
    run(api)
    items = api.get("/v1/clusters").json()["items"]
    target = items[0]["cluster_id"]
    response = api.post(
        f"/v1/clusters/{target}/triage",
        json={"class": "model_limitation", "by": "ana", "note": "the model forgets"},
    )
    assert response.status_code == 200, response.text
    triaged = response.json()["triage"]
    assert triaged["class"] == "model_limitation" and triaged["by"] == "ana"
    assert triaged["note"] == "the model forgets" and triaged["at"]
    bad = api.post(f"/v1/clusters/{target}/triage", json={"class": "later", "by": "ana"})
    assert bad.status_code == 422 and "unknown triage class" in bad.json()["message"]
    assert api.post(f"/v1/clusters/{target}/triage", json={"class": "x"}).status_code == 422
    run(api)
    successor = api.get(f"/v1/clusters/{target}").json()
    assert successor["cluster_id"] != target and successor["requested_id"] == target
    assert successor["triage"]["class"] == "model_limitation"
    assert successor["triage"]["by"] == "ana"
