"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, the real collector
on a real socket, and a host app on another origin that embeds the widget.

Chromium missing is a failure in CI (``CI`` set) and a skip, with the reason, elsewhere.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from promptloop.core.tokens import derive_key, sign
from promptloop.server.settings import Settings
from tests.browser.live import AppServer, LiveCollector, live_collector
from tests.support.chromium import chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

API_KEY = "browser-test-api-key"
FEEDBACK_SECRET = "browser-test-feedback-secret"
SIGNING_KEY = derive_key(FEEDBACK_SECRET)
ANSWER = "To export a notebook, open it and choose File > Export, then pick PDF."
_names = itertools.count()


# Package scope: Playwright's sync API runs an event loop on this thread while it is open;
# it must be closed before the async tests of other packages run.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium(expect_timeout_ms=10_000) as launched:
        yield launched


# The servers too live as long as this package's tests, and stop before other packages run.
@pytest.fixture(scope="package")
def app_server() -> Iterator[AppServer]:
    server = AppServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def collector(
    app_server: AppServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCollector]:
    root = tmp_path_factory.mktemp("collector")
    settings = Settings(
        store_url=f"duckdb:///{root}/store.duckdb",
        data_dir=root / "data",
        api_keys=frozenset({API_KEY}),
        feedback_secrets=frozenset({FEEDBACK_SECRET}),
        cors_origins=frozenset({app_server.origin}),
        demo_enabled=True,
        flush_interval=0.05,
        fsync=False,
        signals_interval=0,
    )
    with live_collector(settings, API_KEY) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


class Answer:
    """One logged interaction, its feedback token, and a host-app page that shows it."""

    def __init__(self, collector: LiveCollector, app_server: AppServer) -> None:
        self.collector = collector
        self.app_server = app_server
        self.interaction_id = str(uuid.uuid4())
        self.token = sign(SIGNING_KEY, self.interaction_id)
        collector.log_interaction(self.interaction_id, ANSWER)

    def page_url(
        self, *, token: str | None = None, origin: str | None = None, **options: Any
    ) -> str:
        """A page that mounts the widget with ``options``.

        ``regenerate=True`` adds an ``onRegenerate`` hook; ``output_html="..."`` puts the
        answer in the app's own element (``#app-output``) and mounts with ``output`` instead
        of ``text``.
        """
        mount = {
            "token": token or self.token,
            "collectorUrl": self.collector.url,
            "text": ANSWER,
            "rating": True,
            "report": True,
            "editable": True,
            **options,
        }
        url = self.app_server.add(f"w{next(_names)}", widget_page(self.collector.url, mount))
        if origin is not None:
            url = url.replace(self.app_server.origin, origin)
        return url

    def events(self, feedback_type: str | None = None) -> list[dict[str, Any]]:
        found = self.collector.feedback(self.interaction_id)
        return [e for e in found if feedback_type is None or e["feedback_type"] == feedback_type]


@pytest.fixture
def answer(collector: LiveCollector, app_server: AppServer) -> Answer:
    return Answer(collector, app_server)


def widget_page(collector_url: str, mount: dict[str, Any]) -> str:
    regenerate = bool(mount.pop("regenerate", False))
    output_html = str(mount.pop("output_html", ""))
    if output_html:
        mount.pop("text", None)
    options = json.dumps(mount).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>host app</title></head>
<body>
<main>
  <h1>Host app</h1>
  <div id="app-output">{output_html}</div>
  <div id="host"></div>
  <p id="regen-log"></p>
  <a id="away" href="/elsewhere">elsewhere</a>
</main>
<script src="{collector_url}/widget.js"></script>
<script>
  // Test instrumentation: remember beacons across navigation (same origin: localStorage).
  const realBeacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {{
    const log = JSON.parse(localStorage.getItem("beacons") || "[]");
    log.push(String(data));
    localStorage.setItem("beacons", JSON.stringify(log));
    return realBeacon(url, data);
  }};
  window.regenerateCalls = [];
  window.widgetEvents = [];
  const options = {options};
  if ({json.dumps(regenerate)}) {{
    options.onRegenerate = (ctx) => {{
      window.regenerateCalls.push(ctx.text);
      const count = window.regenerateCalls.length;
      document.getElementById("regen-log").textContent = "regenerated " + count;
    }};
  }}
  options.onEvent = (result) => window.widgetEvents.push(result);
  if ({json.dumps(bool(output_html))}) options.output = document.getElementById("app-output");
  window.widget = PromptloopWidget.mount(document.getElementById("host"), options);
</script>
</body></html>
"""
