"""Script injection: stored payloads are shown as text on every dashboard page, never run.

Every free-text field that reaches a page (inputs, outputs, system prompts, features, prompt
names and versions, models, comments, edits, categories, metadata, prompt templates and
rationales) holds payloads that set ``window.__xss``. Chromium opens every dashboard page
with the Content-Security-Policy *bypassed*, so escaping alone must stop them; the flag
must stay unset and no dialog may open.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from fastapi import routing
from fastapi.routing import APIRoute

from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.prompts import PromptRegistry
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import Store, open_store

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PAYLOADS = (
    "<script>window.__xss='script'</script>",
    '"><img src=x onerror="window.__xss=\'img\'">',
    "<svg onload=window.__xss='svg'></svg>",
    "</script><script>window.__xss='breakout'</script>",
    "';window.__xss='quote';'",
    "<a href=\"javascript:window.__xss='href'\">click</a>",
    "<iframe srcdoc=\"<script>parent.__xss='iframe'</script>\"></iframe>",
    "{{constructor.constructor('window.__xss=1')()}}",
)
NOW = datetime.now(UTC).replace(microsecond=0)


def _interaction(payload: str, number: int) -> Interaction:
    short = payload[:200]
    return Interaction(
        interaction_id=str(uuid.UUID(int=number + 1)),
        session_id=payload,
        user_id=f"u_{number:032x}",
        feature=short,
        prompt_name=short,
        prompt_version=short,
        model=short,
        system_prompt=payload,
        user_input=payload,
        raw_output=payload,
        error=payload,
        metadata={payload: payload, "note": payload},
        timestamp=NOW - timedelta(hours=number + 1),
    )


def _feedback(interaction: Interaction, payload: str, kind: FeedbackType) -> FeedbackEvent:
    # Built without validation: the page must be safe whatever the store holds (an older
    # version, a direct SQL insert), not only what today's validation lets through.
    return FeedbackEvent.model_construct(
        feedback_id=str(uuid.uuid4()),
        interaction_id=interaction.interaction_id,
        feedback_type=kind,
        category=payload,
        value=None,
        user_edit=payload,
        comment=payload,
        source=FeedbackSource.USER,
        related_interaction_id=None,
        metadata={"why": payload},
        timestamp=interaction.timestamp + timedelta(minutes=1),
    )


def _seed(store: Store) -> list[str]:
    interactions = [_interaction(p, n) for n, p in enumerate(PAYLOADS)]
    store.insert_interactions(interactions)
    store.insert_feedback(
        [
            _feedback(i, p, FeedbackType.THUMBS_DOWN)
            for i, p in zip(interactions, PAYLOADS, strict=True)
        ]
        + [_feedback(i, p, FeedbackType.EDIT) for i, p in zip(interactions, PAYLOADS, strict=True)]
    )
    registry = PromptRegistry(store)
    registry.register("support", PAYLOADS[0], {"model": PAYLOADS[1]}, author=PAYLOADS[2])
    registry.register(
        "support",
        PAYLOADS[3],
        rationale=PAYLOADS[4],
        failure_mode=PAYLOADS[5],
        author=PAYLOADS[6],
    )
    registry.promote("support", "1.1.0", label="production", actor=PAYLOADS[1], reason=PAYLOADS[2])
    return [i.interaction_id for i in interactions]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    root: Path = tmp_path_factory.mktemp("xss")
    store = open_store(f"duckdb:///{root}/store.duckdb")
    ids = _seed(store)
    settings = Settings(
        store_url=store.url,
        data_dir=root / "data",
        api_keys=frozenset(),
        signals_interval=0,
        alerts_interval=0,
        fsync=False,
    )
    app = create_app(settings, store=store)
    app.state.ui_snapshots.wait = 60  # render data, not a "computing" placeholder
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", ids
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        store.close()


def _pages(app_routes: Any, ids: list[str]) -> list[str]:
    """Every dashboard GET page (HTML), path parameters filled with the seeded objects."""
    fills = {"interaction_id": ids[0], "name": "support", "fmt": "csv"}
    found: set[str] = set()
    for context in routing.iter_route_contexts(app_routes):
        route = context.original_route
        path = context.path or ""
        if not isinstance(route, APIRoute) or "GET" not in (context.methods or ()):
            continue
        if path.startswith(("/v1/", "/docs", "/redoc", "/openapi")) or path.endswith(".json"):
            continue
        if path in ("/healthz", "/widget.js", "/login") or "export" in path:
            continue
        params = {name for name in route.param_convertors}
        if not params <= set(fills):
            continue
        for name in params:
            path = path.replace("{" + name + "}", fills[name])
        found.add(path)
    return sorted(found)


def test_no_payload_runs_on_any_dashboard_page(
    browser: Browser, dashboard: tuple[str, list[str]]
) -> None:
    base, ids = dashboard
    app_routes = create_app(Settings(api_keys=frozenset())).routes
    pages = _pages(app_routes, ids)
    pages += [f"/interactions/{i}" for i in ids[1:]] + ["/prompts/support?tab=history"]
    assert {"/", "/interactions", "/prompts", f"/interactions/{ids[0]}"} <= set(pages)
    context = browser.new_context(bypass_csp=True)
    dialogs: list[str] = []
    try:
        page = context.new_page()

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        # The detector works: the same payload, unescaped, does run in this context.
        page.goto(base + "/healthz")
        page.set_content(PAYLOADS[1].removeprefix('">'))
        assert page.evaluate("() => window.__xss") == "img"
        shown = 0
        for path in pages:
            response = page.goto(base + path, wait_until="load")
            assert response is not None and response.status < 500, path
            page.wait_for_load_state("networkidle")
            assert page.evaluate("() => window.__xss") is None, f"payload ran on {path}"
            text = page.inner_text("body")
            shown += sum(payload in text for payload in PAYLOADS)
        # The payloads are on the pages, as text.
        assert shown >= len(PAYLOADS)
        assert not dialogs
    finally:
        context.close()
