"""Metrics and comparisons over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

START = datetime(2026, 11, 2, tzinfo=UTC)


def _send(client: TestClient, version: str, n: int, regenerated: int, offset_days: int) -> None:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    client.post(
        "/v1/interactions",
        json=[
            {
                "interactionId": i,
                "feature": "summarize",
                "promptVersion": version,
                "timestamp": (START + timedelta(days=offset_days, minutes=k)).isoformat(),
                "metadata": {"ab_variant": "B" if k % 2 else "A"},
            }
            for k, i in enumerate(ids)
        ],
    )
    client.post(
        "/v1/feedback",
        json=[{"interactionId": i, "feedbackType": "regenerate"} for i in ids[:regenerated]],
    )


def test_metrics_by_day_and_comparison_verdicts(client: TestClient) -> None:
    _send(client, "1.4.0", 600, regenerated=90, offset_days=0)
    _send(client, "1.5.0", 600, regenerated=30, offset_days=1)
    daily = client.get("/v1/metrics", params={"by": "prompt_version", "bucket": "day"}).json()
    assert [(r["prompt_version"], r["interactions"]) for r in daily["items"]] == [
        ("1.4.0", 600),
        ("1.5.0", 600),
    ]
    regen = daily["items"][0]["rates"]["regeneration"]
    assert (regen["count"], regen["n"]) == (90, 600) and regen["low"] < 0.15 < regen["high"]

    result = client.get("/v1/compare", params={"feature": "summarize", "rates": "regeneration"})
    [row] = result.json()["comparisons"]
    assert row["summary"].startswith("1.5.0 lowers regeneration from 15.0% to 5.0%, -10.0 pp")
    by_variant = client.get(
        "/v1/compare", params={"feature": "summarize", "variant_key": "ab_variant"}
    ).json()
    assert by_variant["grouped_by"] == "metadata.ab_variant"
    assert set(by_variant["groups"]) == {"A", "B"}


def test_bad_metric_requests_name_the_field(client: TestClient) -> None:
    bad = client.get("/v1/metrics", params={"bucket": "month"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "bucket"
    bad_by = client.get("/v1/metrics", params={"by": "colour"})
    assert bad_by.status_code == 422 and "by must be among" in bad_by.json()["message"]
    lonely = client.get("/v1/compare", params={"feature": "nothing"})
    assert lonely.status_code == 422 and "at least two groups" in lonely.json()["message"]
