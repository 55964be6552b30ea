"""Fixtures for the dashboard tests: one demo store (3,000 simulated interactions plus
hand-made records, alerts and failure patterns), in-process clients, and, for the browser
tests, the real collector on a real socket with Debian's Chromium driven by Playwright.

Chromium missing is a failure in CI (``CI`` set) and a skip, with the reason, elsewhere.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.support.chromium import chromium
from tests.ui import dataset

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

API_KEY = "ui-test-api-key-never-in-html"
PASSWORD = "ui-test-dashboard-password"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def settings_for(root: Path, **overrides: Any) -> Settings:
    """Collector settings for a test: no background jobs, no fsync."""
    values: dict[str, Any] = {
        "store_url": f"duckdb:///{root}/store.duckdb",
        "data_dir": root / "data",
        "api_keys": frozenset(),
        "flush_interval": 0.05,
        "fsync": False,
        "signals_interval": 0,
        "dashboard_password": None,
        "dashboard_secret": None,
    }
    if "alerts_interval" in {f.name for f in dataclasses.fields(Settings)}:
        values["alerts_interval"] = 0  # the alert checker would judge the hand-made alerts
    values.update(overrides)
    return Settings(**values)


def make_app(store: Store, root: Path, **overrides: Any) -> FastAPI:
    app = create_app(settings_for(root, **overrides), store=store)
    # Small stores: wait for every snapshot rather than render a "computing" state.
    app.state.ui_snapshots.wait = 60
    return app


@pytest.fixture(scope="package")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-demo")


@pytest.fixture(scope="package")
def demo_store(demo_root: Path) -> Iterator[Store]:
    store = open_store(f"duckdb:///{demo_root}/store.duckdb")
    dataset.build(store, interactions=3000)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def client(demo_store: Store, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(demo_store, tmp_path)) as test_client:
        yield test_client


@pytest.fixture
def empty_client(tmp_path: Path) -> Iterator[TestClient]:
    store = open_store(f"duckdb:///{tmp_path}/empty.duckdb")
    try:
        with TestClient(make_app(store, tmp_path)) as test_client:
            yield test_client
    finally:
        store.close()


@pytest.fixture
def auth_client(demo_store: Store, tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(demo_store, tmp_path, api_keys=frozenset({API_KEY}), dashboard_password=PASSWORD)
    with TestClient(app) as test_client:
        yield test_client


# ---------------------------------------------------------------------- live servers


class LiveServer:
    """The collector served by uvicorn in a thread, on a socket bound before it starts."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.port = int(self._socket.getsockname()[1])
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        # The socket already listens: this request waits (bounded) until the app serves.
        httpx.get(f"{self.url}/healthz", timeout=30).raise_for_status()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


@pytest.fixture(scope="package")
def live(demo_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(make_app(demo_store, tmp_path_factory.mktemp("ui-live")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def live_auth(demo_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = make_app(
        demo_store,
        tmp_path_factory.mktemp("ui-live-auth"),
        api_keys=frozenset({API_KEY}),
        dashboard_password=PASSWORD,
    )
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Package scope: Playwright's sync API runs an event loop on this thread while it is open;
# it must be closed before the async tests of other packages run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium(expect_timeout_ms=15_000) as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture(scope="package")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots/ when PROMPTLOOP_SCREENSHOTS=1 (to refresh them), else a temp dir."""
    if os.environ.get("PROMPTLOOP_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
