"""The collector's ingest endpoints, on every backend."""

from __future__ import annotations

import dataclasses
import gc
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from promptloop.server.app import GC_YOUNG_THRESHOLD, create_app
from promptloop.server.settings import Settings

# The seed's LLMInteractionLog and FeedbackEvent, field for field, as the seed writes them.
SEED_INTERACTION = {
    "interactionId": "0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b",
    "sessionId": "sess-42",
    "userId": "u_9f86d081884c7d65",
    "promptVersion": "v1.4",
    "model": "claude-sonnet-4-20250514",
    "systemPrompt": "You are a support assistant for Acme.",
    "userInput": "What integrations do you support?",
    "rawOutput": "We support Slack and Google Drive.",
    "inputTokens": 412,
    "outputTokens": 38,
    "latencyMs": 812,
    "timestamp": "2026-11-20T09:30:00.000Z",
    "metadata": {"ab_variant": "B", "feature_flags": ["new_retrieval"]},
}
SEED_FEEDBACK = {
    "feedbackId": "fb-0001",
    "interactionId": "0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b",
    "feedbackType": "thumbs_down",
    "category": "wrong",
    "timestamp": "2026-11-20T09:31:10.000Z",
}


def _counts(client: TestClient) -> tuple[int, int]:
    store = client.get("/v1/stats").json()["store"]
    return store["interactions"], store["feedback_events"]


def test_the_seeds_camel_case_json_is_accepted_exactly_as_written(client: TestClient) -> None:
    assert client.post("/v1/interactions", json=SEED_INTERACTION).json()["accepted"] == 1
    assert client.post("/v1/feedback", json=SEED_FEEDBACK).json()["accepted"] == 1
    stored = client.get(f"/v1/interactions/{SEED_INTERACTION['interactionId']}").json()
    assert stored["prompt_version"] == "v1.4"
    assert stored["latency_ms"] == 812
    assert stored["metadata"] == SEED_INTERACTION["metadata"]
    assert stored["timestamp"].startswith("2026-11-20T09:30:00")
    [event] = stored["feedback"]
    assert (event["feedback_id"], event["feedback_type"], event["category"]) == (
        "fb-0001",
        "thumbs_down",
        "wrong",
    )


def test_snake_case_batches_and_retries_store_nothing_twice(client: TestClient) -> None:
    batch = [
        {"interaction_id": str(uuid.uuid4()), "user_input": f"q{i}", "prompt_version": "1.0.0"}
        for i in range(50)
    ]
    feedback = [
        {"interaction_id": item["interaction_id"], "feedback_type": "copy"} for item in batch
    ]
    for _ in range(3):  # a client that retried the same batches twice
        assert client.post("/v1/interactions", json=batch).status_code == 200
        assert client.post("/v1/feedback", json=feedback).status_code == 200
    assert _counts(client) == (50, 50)
    ingest = client.get("/v1/stats").json()["ingest"]
    assert ingest["duplicates"] == {"interactions": 100, "feedback": 100}


def test_a_partly_invalid_batch_stores_the_valid_items_and_names_each_bad_field(
    client: TestClient,
) -> None:
    good = {"interactionId": str(uuid.uuid4()), "userInput": "fine"}
    response = client.post(
        "/v1/interactions",
        json=[
            good,
            {"interactionId": "not-a-uuid"},
            {"interactionId": str(uuid.uuid4()), "inputTokens": -5},
            "text",
        ],
    )
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 3
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (1, "interactionId"),
        (2, "inputTokens"),
        (3, "(item)"),
    }
    assert _counts(client) == (1, 0)

    response = client.post(
        "/v1/feedback",
        json=[
            {"interactionId": good["interactionId"], "feedbackType": "thumbs_up"},
            {"interactionId": good["interactionId"], "feedbackType": "meh"},
            {"interactionId": good["interactionId"], "feedbackType": "rating"},
            {"interactionId": good["interactionId"], "feedbackType": "edit"},
        ],
    )
    assert response.status_code == 207
    reasons = {e["index"]: e for e in response.json()["errors"]}
    assert reasons[1]["field"] == "feedbackType"
    assert "value" in reasons[2]["reason"] and "user_edit" in reasons[3]["reason"]


def test_malformed_bodies_get_a_clear_4xx(client: TestClient) -> None:
    not_json = client.post(
        "/v1/feedback", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_json"
    scalar = client.post("/v1/feedback", json=42)
    assert scalar.status_code == 422 and scalar.json()["error"] == "invalid_body"
    nothing_valid = client.post("/v1/feedback", json=[{"feedbackType": "copy"}])
    assert nothing_valid.status_code == 422
    assert nothing_valid.json()["errors"][0]["field"] == "interaction_id"
    assert client.post("/v1/interactions", json=[]).json() == {
        "accepted": 0,
        "rejected": 0,
        "errors": [],
    }
    assert _counts(client) == (0, 0)


def test_bad_query_parameters_name_the_field(client: TestClient) -> None:
    response = client.get("/v1/queries/negative-inputs", params={"days": "soon"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "days"
    response = client.get("/v1/interactions", params={"feedback_type": "meh"})
    assert response.status_code == 422 and "feedback_type" in response.json()["message"]
    response = client.get("/v1/interactions", params={"cursor": "@@@"})
    assert response.status_code == 422
    assert client.get(f"/v1/interactions/{uuid.uuid4()}").status_code == 404


def test_oversized_bodies_are_refused(settings: Settings) -> None:
    small = dataclasses.replace(settings, max_body_bytes=1000)
    with TestClient(create_app(small)) as client:
        response = client.post("/v1/interactions", json={"userInput": "x" * 2000})
        assert response.status_code == 413 and response.json()["error"] == "body_too_large"


def test_api_keys_guard_every_v1_endpoint(settings: Settings) -> None:
    keyed = dataclasses.replace(settings, api_keys=frozenset({"pl-secret-1", "pl-secret-2"}))
    with TestClient(create_app(keyed)) as client:
        item = {"interactionId": str(uuid.uuid4())}
        for method, path in [
            ("post", "/v1/interactions"),
            ("post", "/v1/feedback"),
            ("get", "/v1/interactions"),
            ("get", "/v1/stats"),
            ("get", "/v1/queries/version-summary"),
        ]:
            response = client.request(method, path, json=item)
            assert response.status_code == 401, path
            assert response.json()["error"] == "unauthorized"
        wrong = client.post("/v1/interactions", json=item, headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 401
        ok = client.post(
            "/v1/interactions", json=item, headers={"Authorization": "Bearer pl-secret-2"}
        )
        assert ok.status_code == 200
        assert client.get("/v1/stats", headers={"X-API-Key": "pl-secret-1"}).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/interactions",
        "/v1/feedback",
        "/v1/queries/negative-inputs",
        "/v1/queries/regenerated-inputs",
        "/v1/queries/version-summary",
    ):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/interactions"]["post"]["requestBody"]["content"]["application/json"]
    assert "oneOf" in body["schema"]


def test_ingest_to_query_round_trip_answers_the_seeds_questions(
    client: TestClient, tmp_path: Path
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    client.post(
        "/v1/interactions",
        json=[
            {"interactionId": i, "userInput": "How do I fix it?", "promptVersion": "v1.4"}
            for i in ids
        ],
    )
    client.post(
        "/v1/feedback",
        json=[
            *(
                {"interactionId": i, "feedbackType": "thumbs_down", "category": "unhelpful"}
                for i in ids
            ),
            *(
                {"interactionId": ids[0], "feedbackType": "regenerate", "feedbackId": f"r{n}"}
                for n in range(2)
            ),
        ],
    )
    negative = client.get("/v1/queries/negative-inputs", params={"days": 14}).json()["items"]
    assert negative[0]["example_input"] == "How do I fix it?" and negative[0]["interactions"] == 3
    regenerated = client.get(
        "/v1/queries/regenerated-inputs", params={"prompt_version": "v1.4"}
    ).json()["items"]
    assert regenerated == [{"user_input": "How do I fix it?", "regeneration_count": 2}]
    [summary] = client.get("/v1/queries/version-summary").json()["items"]
    assert summary["interactions"] == 3 and summary["thumbs_down_rate"] == 1.0
    listed = client.get("/v1/interactions", params={"feedback_type": "regenerate"}).json()
    assert [row["interaction_id"] for row in listed["items"]] == [ids[0]]


def test_the_collector_tunes_garbage_collection_while_it_runs_and_restores_it(
    tmp_path: Path,
) -> None:
    before = gc.get_threshold()
    settings = Settings(store_url="duckdb:///:memory:", data_dir=tmp_path, api_keys=frozenset())
    with TestClient(create_app(settings)):
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0  # start-up objects are out of every collection
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
