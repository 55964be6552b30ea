"""A DuckDB store for eval tests whose SQL the cross-backend tests already cover: the
logic tests run once, the storage tests on every backend (the ``store`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promptloop.store import open_store
from promptloop.store.base import Store


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"duckdb:///{tmp_path}/evals.duckdb")
    opened.migrate()
    yield opened
    opened.close()
