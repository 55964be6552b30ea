"""A collector with one key of each scope: two from the ``api_keys`` table, one from settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import Store, open_store
from promptloop.store.keys import Scope, create_key

SETTINGS_ADMIN_KEY = "settings-admin-key-0123456789"
DASHBOARD_PASSWORD = "correct horse battery staple"


@dataclass
class Keyed:
    client: TestClient
    store: Store
    keys: dict[Scope, str]

    def headers(self, scope: Scope | None) -> dict[str, str]:
        return {} if scope is None else {"Authorization": f"Bearer {self.keys[scope]}"}


def keyed_settings(tmp_path: Path, store_url: str) -> Settings:
    return Settings(
        store_url=store_url,
        data_dir=tmp_path / "data",
        api_keys=frozenset({SETTINGS_ADMIN_KEY}),
        dashboard_password=DASHBOARD_PASSWORD,
        signals_interval=0,
        alerts_interval=0,
        fsync=False,
    )


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Keyed]:
    store = open_store(f"duckdb:///{tmp_path}/keys.duckdb")
    keys = {
        Scope.INGEST: create_key(store, "app", Scope.INGEST).plaintext,
        Scope.READ: create_key(store, "bi", Scope.READ).plaintext,
        Scope.ADMIN: SETTINGS_ADMIN_KEY,
    }
    app = create_app(keyed_settings(tmp_path, store.url), store=store)
    with TestClient(app) as client:
        yield Keyed(client, store, keys)
    store.close()
