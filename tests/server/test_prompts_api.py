"""The registry over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _push(client: TestClient, template: str, **extra: object) -> dict[str, object]:
    response = client.post(
        "/v1/prompts",
        json={"name": "support", "template": template, "settings": {"model": "m"}, **extra},
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


def test_register_promote_rollback_and_read_the_log(client: TestClient) -> None:
    first = _push(client, "Hello {{name}}")
    assert first["created"] is True and first["version"] == "1.0.0"
    again = client.post(
        "/v1/prompts",
        json={"name": "support", "template": "Hello {{name}}", "settings": {"model": "m"}},
    )
    assert again.status_code == 200 and again.json()["created"] is False
    second = _push(
        client,
        "Hello {{name}}, briefly",
        rationale="Too verbose",
        evidence=[{"kind": "eval_run", "ref": "run-17"}],
    )
    assert second["version"] == "1.1.0"

    for version in ("1.0.0", "1.1.0"):
        response = client.post(
            "/v1/prompts/support/labels/production",
            json={"version": version, "actor": "ann", "reason": "ship"},
        )
        assert response.status_code == 200
    rolled = client.post(
        "/v1/prompts/support/labels/production/rollback", json={"actor": "bob", "reason": "oops"}
    ).json()
    assert (rolled["from_version"], rolled["to_version"]) == ("1.1.0", "1.0.0")

    resolved = client.get("/v1/prompts/support/resolve", params={"label": "production"}).json()
    assert resolved["version"] == "1.0.0" and resolved["prompt_hash"] == first["prompt_hash"]
    log = client.get("/v1/prompts/support/log").json()["entries"]
    assert [entry["kind"] for entry in log].count("deployment") == 3
    diff = client.get("/v1/prompts/support/diff", params={"from": "1.0.0", "to": "1.1.0"})
    assert "+Hello {{name}}, briefly" in diff.json()["diff"]
    deployments = client.get("/v1/deployments", params={"prompt_name": "support"}).json()
    assert [d["action"] for d in deployments["items"]] == ["promote", "promote", "rollback"]
    listed = client.get("/v1/prompts").json()["items"]
    assert listed[0]["labels"] == {"production": "1.0.0"}
    shown = client.get("/v1/prompts/support").json()
    assert [v["version"] for v in shown["versions"]] == ["1.0.0", "1.1.0"]


def test_registry_errors_are_clear(client: TestClient) -> None:
    _push(client, "one")
    missing_rationale = client.post(
        "/v1/prompts", json={"name": "support", "template": "two", "settings": {}}
    )
    assert missing_rationale.status_code == 422
    assert "rationale" in missing_rationale.json()["message"]
    bad_name = client.post("/v1/prompts", json={"name": "bad name!", "template": "x"})
    assert bad_name.status_code == 422 and "prompt name" in bad_name.json()["message"]
    no_template = client.post("/v1/prompts", json={"name": "x"})
    assert no_template.status_code == 422 and no_template.json()["errors"][0]["field"] == "template"
    assert client.get("/v1/prompts/nope").status_code == 404
    assert client.get("/v1/prompts/support/versions/9.9.9").status_code == 404
    bad_version = client.get("/v1/prompts/support/versions/latest")
    assert bad_version.status_code == 422 and "MAJOR.MINOR.PATCH" in bad_version.json()["message"]
    conflict = client.post("/v1/prompts/support/labels/production/rollback", json={"actor": "a"})
    assert conflict.status_code == 404
    client.post("/v1/prompts/support/labels/production", json={"version": "1.0.0"})
    conflict = client.post("/v1/prompts/support/labels/production/rollback", json={})
    assert conflict.status_code == 409 and conflict.json()["error"] == "conflict"


def test_unregistered_versions_endpoint(client: TestClient) -> None:
    client.post(
        "/v1/interactions",
        json={
            "interactionId": "0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b",
            "promptName": "support",
            "promptVersion": "0.1.0",
            "promptHash": "sha256:abc",
        },
    )
    items = client.get("/v1/prompts/unregistered").json()["items"]
    assert [(i["prompt_version"], i["interactions"]) for i in items] == [("0.1.0", 1)]
