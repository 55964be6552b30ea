"""API keys: stored hashed on every backend, revocation, expiry and rotation with a grace."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.server.app import create_app
from promptloop.store import Store, open_store
from promptloop.store import keys as key_store
from promptloop.store.keys import Scope
from tests.security.conftest import Keyed, keyed_settings

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_only_a_hash_of_the_key_is_stored(store: Store) -> None:
    created = key_store.create_key(store, "checkout-app", "ingest", now=NOW)
    assert created.plaintext.startswith("pl_") and len(created.plaintext) > 40
    rows = store.fetch_all("SELECT * FROM api_keys")
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0].values())
    assert created.plaintext not in stored
    assert rows[0]["key_hash"] == hashlib.sha256(created.plaintext.encode()).hexdigest()
    assert rows[0]["prefix"] == created.plaintext[:10]
    found = key_store.lookup(store, created.plaintext)
    assert found is not None and found.scope is Scope.INGEST and found.name == "checkout-app"
    assert key_store.lookup(store, created.plaintext + "x") is None


def test_two_keys_never_collide_and_the_listing_never_shows_a_plaintext(store: Store) -> None:
    first = key_store.create_key(store, "a", Scope.READ)
    second = key_store.create_key(store, "a", Scope.READ)
    assert first.plaintext != second.plaintext and first.key.key_id != second.key.key_id
    listing = [key.as_dict() for key in key_store.list_keys(store)]
    assert len(listing) == 2 and all("api_key" not in key for key in listing)


def test_revoke_and_expiry(store: Store) -> None:
    created = key_store.create_key(store, "bi", "read", expires_at=NOW + timedelta(days=1), now=NOW)
    assert created.key.active(NOW) and not created.key.active(NOW + timedelta(days=1))
    assert key_store.any_active(store, NOW)
    revoked = key_store.revoke(store, created.key.key_id, now=NOW + timedelta(hours=1))
    assert revoked.revoked_at == NOW + timedelta(hours=1)
    assert not revoked.active(NOW + timedelta(hours=2))
    assert not key_store.any_active(store, NOW + timedelta(hours=2))


def test_rotation_keeps_both_keys_working_for_the_grace_only(store: Store) -> None:
    now = datetime.now(UTC)
    old = key_store.create_key(store, "checkout-app", "ingest", now=now)
    new, old_after = key_store.rotate(store, "checkout-app", grace=timedelta(hours=2), now=now)
    assert new.key.name == "checkout-app" and new.key.scope is Scope.INGEST
    assert new.plaintext != old.plaintext
    during = now + timedelta(hours=1)
    after = now + timedelta(hours=2, seconds=1)
    assert old_after.active(during) and new.key.active(during)
    assert not old_after.active(after) and new.key.active(after)
    with pytest.raises(ConflictError, match="2 active keys"):
        key_store.find_key(store, "checkout-app")


def test_bad_input_is_refused_with_the_field_named(store: Store) -> None:
    with pytest.raises(ValueError, match="scope"):
        key_store.create_key(store, "x", "superuser")
    with pytest.raises(ValueError, match="name"):
        key_store.create_key(store, "  ", "read")
    with pytest.raises(ValueError, match="expires_at"):
        key_store.create_key(store, "x", "read", expires_at=NOW - timedelta(days=1), now=NOW)
    with pytest.raises(NotFoundError):
        key_store.revoke(store, "key_missing")


# -- through the collector ----------------------------------------------------------------
def _stats(client: TestClient, key: str) -> int:
    return client.get("/v1/stats", headers={"Authorization": f"Bearer {key}"}).status_code


def test_keys_from_the_api_work_at_once_and_stop_at_once_when_revoked(keyed: Keyed) -> None:
    admin = keyed.headers(Scope.ADMIN)
    created = keyed.client.post("/v1/keys", json={"name": "bi", "scope": "read"}, headers=admin)
    assert created.status_code == 200
    body = created.json()
    assert _stats(keyed.client, body["api_key"]) == 200
    listed = keyed.client.get("/v1/keys", headers=admin).json()["keys"]
    assert body["api_key"] not in str(listed)
    revoked = keyed.client.post(f"/v1/keys/{body['key_id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert _stats(keyed.client, body["api_key"]) == 401


def test_rotation_through_the_api_without_a_refused_request(keyed: Keyed) -> None:
    admin = keyed.headers(Scope.ADMIN)
    old = keyed.client.post("/v1/keys", json={"name": "bi2", "scope": "read"}, headers=admin).json()
    rotated = keyed.client.post(
        f"/v1/keys/{old['key_id']}/rotate", json={"grace_hours": 1}, headers=admin
    ).json()
    assert _stats(keyed.client, old["api_key"]) == 200
    assert _stats(keyed.client, rotated["new"]["api_key"]) == 200
    immediate = keyed.client.post(
        f"/v1/keys/{rotated['new']['key_id']}/rotate", json={"grace_hours": 0}, headers=admin
    ).json()
    assert _stats(keyed.client, rotated["new"]["api_key"]) == 401
    assert _stats(keyed.client, immediate["new"]["api_key"]) == 200


def test_a_read_key_cannot_manage_keys(keyed: Keyed) -> None:
    reader = keyed.headers(Scope.READ)
    assert keyed.client.get("/v1/keys", headers=reader).status_code == 403
    response = keyed.client.post("/v1/keys", json={"name": "x", "scope": "admin"}, headers=reader)
    assert response.status_code == 403
    assert response.json()["required_scope"] == "admin"


def test_an_expired_key_is_refused(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/expired.duckdb")
    past = datetime.now(UTC) - timedelta(days=2)
    expired = key_store.create_key(
        store, "old", "read", expires_at=past + timedelta(days=1), now=past
    )
    live = key_store.create_key(store, "new", "read")
    with TestClient(create_app(keyed_settings(tmp_path, store.url), store=store)) as client:
        assert _stats(client, expired.plaintext) == 401
        assert _stats(client, live.plaintext) == 200
    store.close()


def test_the_first_stored_key_turns_authentication_on(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/open.duckdb")
    settings = keyed_settings(tmp_path, store.url)
    open_settings = type(settings)(
        store_url=store.url,
        data_dir=tmp_path / "open",
        api_keys=frozenset(),
        signals_interval=0,
        alerts_interval=0,
    )
    with TestClient(create_app(open_settings, store=store)) as client:
        assert client.get("/v1/stats").status_code == 200
        created = client.post("/v1/keys", json={"name": "first", "scope": "admin"}).json()
        assert client.get("/v1/stats").status_code == 401
        assert _stats(client, created["api_key"]) == 200
    store.close()


def test_scoped_keys_from_settings(tmp_path: Path) -> None:
    base = keyed_settings(tmp_path, f"duckdb:///{tmp_path}/s.duckdb")
    settings = type(base)(
        store_url=base.store_url,
        data_dir=base.data_dir,
        ingest_api_keys=frozenset({"app-key-from-env"}),
        read_api_keys=frozenset({"bi-key-from-env"}),
        signals_interval=0,
        alerts_interval=0,
    )
    with TestClient(create_app(settings)) as client:
        assert _stats(client, "bi-key-from-env") == 200
        assert _stats(client, "app-key-from-env") == 403
        response = client.post(
            "/v1/interactions", json=[], headers={"X-API-Key": "app-key-from-env"}
        )
        assert response.status_code not in (401, 403)
