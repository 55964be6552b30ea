from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return Settings(store_url=store_url, data_dir=tmp_path / "data", api_keys=frozenset())


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
