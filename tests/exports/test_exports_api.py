"""``GET /v1/exports/{kind}``: downloads through the collector's HTTP API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from tests.support.records import feedback, interaction


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root: Path = tmp_path_factory.mktemp("exports-api")
    settings = Settings(
        store_url=f"duckdb:///{root}/store.duckdb",
        data_dir=root / "data",
        api_keys=frozenset(),
        signals_interval=0,
        alerts_interval=0,
    )
    with TestClient(create_app(settings)) as test_client:
        calls = [
            interaction(feature="chat", user_input="=1+1", trace_id="a" * 32, span_id="b" * 16),
            interaction(feature="search", user_input="plain"),
        ]
        body = [call.model_dump(mode="json") for call in calls]
        assert test_client.post("/v1/interactions", json=body).status_code == 200
        events = [
            feedback(calls[0].interaction_id, "thumbs_down").model_dump(mode="json"),
            feedback(calls[1].interaction_id, "thumbs_up").model_dump(mode="json"),
        ]
        assert test_client.post("/v1/feedback", json=events).status_code == 200
        yield test_client


def test_csv_download_is_filtered_and_formula_safe(client: TestClient) -> None:
    response = client.get("/v1/exports/interactions", params={"format": "csv", "feature": "chat"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="interactions.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["user_input"] for row in rows] == ["'=1+1"]


def test_parquet_download(client: TestClient) -> None:
    response = client.get("/v1/exports/feedback", params={"format": "parquet"})
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content))
    assert sorted(table.column("feedback_type").to_pylist()) == ["thumbs_down", "thumbs_up"]


def test_phoenix_and_langfuse(client: TestClient) -> None:
    phoenix = client.get("/v1/exports/phoenix", params={"format": "json"}).json()
    assert [a["span_id"] for a in phoenix["data"]] == ["b" * 16]
    lines = client.get("/v1/exports/langfuse").text.splitlines()
    (score,) = [json.loads(line) for line in lines]
    assert (score["traceId"], score["value"], score["dataType"]) == ("a" * 32, 0.0, "BOOLEAN")


def test_a_format_the_kind_lacks_is_422(client: TestClient) -> None:
    response = client.get("/v1/exports/phoenix", params={"format": "parquet"})
    assert response.status_code == 422
    assert response.json()["field"] == "format"
