"""The inference job inside the collector: on demand, and visible through the query API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient


def test_signals_run_on_demand_and_show_up_as_inferred(client: TestClient) -> None:
    start = datetime.now(UTC) - timedelta(hours=3)
    first, rephrased, retry = (str(uuid.uuid4()) for _ in range(3))
    client.post(
        "/v1/interactions",
        json=[
            {
                "interactionId": first,
                "sessionId": "s",
                "userInput": "export to pdf?",
                "rawOutput": "Use File > Export and pick PDF from the list of formats.",
                "promptVersion": "1.0.0",
                "timestamp": start.isoformat(),
            },
            {
                "interactionId": rephrased,
                "sessionId": "s",
                "userInput": "how to export as pdf",
                "promptVersion": "1.0.0",
                "timestamp": (start + timedelta(seconds=30)).isoformat(),
            },
            {
                "interactionId": retry,
                "sessionId": "s",
                "userInput": "how to export as pdf",
                "parentInteractionId": rephrased,
                "promptVersion": "1.0.0",
                "timestamp": (start + timedelta(seconds=40)).isoformat(),
            },
        ],
    )
    client.post(
        "/v1/feedback",
        json={"interactionId": first, "feedbackType": "edit", "userEdit": "Use File > Export."},
    )
    report = client.post("/v1/signals/run", json={}).json()
    assert report["inserted"] == {"follow_up": 1, "regenerate": 1, "abandon": 1}
    assert report["edits_analysed"] == 1
    assert client.post("/v1/signals/run").json()["inserted"] == {}
    assert client.get("/v1/signals/status").json()["last_run"]["inserted"] == {}

    detail = client.get(f"/v1/interactions/{first}").json()
    sources = {(e["feedback_type"], e["source"]) for e in detail["feedback"]}
    assert sources == {("edit", "user"), ("follow_up", "inferred")}
    inferred = client.get(
        "/v1/interactions", params={"feedback_type": "regenerate", "feedback_source": "inferred"}
    ).json()["items"]
    assert [row["interaction_id"] for row in inferred] == [rephrased]
    [edits] = client.get("/v1/queries/edit-summary").json()["items"]
    assert edits["edits"] == 1 and edits["shortened"] == 1
    [summary] = client.get("/v1/queries/version-summary").json()["items"]
    assert summary["regenerated"] == 1 and summary["followed_up"] == 1
