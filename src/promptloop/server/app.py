"""The collector: a FastAPI app that ingests interactions and feedback and answers queries."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI

import promptloop
from promptloop.analytics.alerts.scheduler import AlertScheduler
from promptloop.analytics.alerts.webhook import Notifier
from promptloop.server.api import alerts as alerts_api
from promptloop.server.api import browser as browser_api
from promptloop.server.api import evals as evals_api
from promptloop.server.api import exports as exports_api
from promptloop.server.api import ingest as ingest_api
from promptloop.server.api import keys as keys_api
from promptloop.server.api import metrics as metrics_api
from promptloop.server.api import otlp as otlp_api
from promptloop.server.api import patterns as patterns_api
from promptloop.server.api import prompts as prompts_api
from promptloop.server.api import query as query_api
from promptloop.server.api import retention as retention_api
from promptloop.server.api import review as review_api
from promptloop.server.api import signals as signals_api
from promptloop.server.errors import install_error_handlers
from promptloop.server.ingest import Ingestor
from promptloop.server.scheduler import RetentionScheduler, SignalScheduler
from promptloop.server.settings import Settings
from promptloop.server.ui import install as install_dashboard
from promptloop.signals.jobs import SignalJob
from promptloop.store import open_store
from promptloop.store.base import Store

# Objects allocated between two young-generation collections. Python's default (700) made
# the collector collect ~20 times per 500-record ingest batch, and each collection walked the
# records waiting in the ingest buffer: a third of the request path's CPU.
GC_YOUNG_THRESHOLD = 50_000


@contextmanager
def _server_gc() -> Iterator[None]:
    """Collector-friendly garbage collection while the app runs, restored afterwards.

    What exists at start-up (modules, the app, the store) is frozen out of collections, and
    young collections run less often: ingest allocates many short-lived, acyclic objects.
    """
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    """Build the collector. Pass ``store`` to share an already-open store (tests, embedding)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with _server_gc():
            async with _services(app):
                yield

    @asynccontextmanager
    async def _services(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store or open_store(settings.store_url)
        app.state.ingestor = Ingestor(
            app.state.store,
            settings.wal_dir,
            flush_interval=settings.flush_interval,
            flush_rows=settings.flush_rows,
            max_pending_rows=settings.max_pending_rows,
            max_pending_bytes=settings.max_pending_bytes,
            fsync=settings.fsync,
        )
        app.state.ingestor.start()
        app.state.signals = SignalScheduler(
            app.state.ingestor,
            SignalJob(app.state.store, settings.signals),
            settings.signals_interval,
        )
        app.state.signals.start()
        app.state.retention = RetentionScheduler(
            app.state.ingestor,
            app.state.store,
            settings.retention,
            settings.retention_interval,
        )
        app.state.retention.start()
        app.state.alerts = _alert_scheduler(app.state.store, app.state, settings)
        app.state.alerts.start()
        try:
            yield
        finally:
            app.state.ui_snapshots.close()
            app.state.alerts.stop()
            app.state.retention.stop()
            app.state.signals.stop()
            app.state.ingestor.stop()
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="promptloop collector",
        version=getattr(promptloop, "__version__", "0"),
        description=(
            "Log every LLM call with its interaction ID and prompt version; record explicit "
            "and implicit feedback linked to it; ask the questions that drive prompt changes."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(ingest_api.router)
    app.include_router(query_api.router)
    app.include_router(prompts_api.router)
    app.include_router(signals_api.router)
    app.include_router(alerts_api.router)
    app.include_router(metrics_api.router)
    app.include_router(patterns_api.router)
    app.include_router(evals_api.router)
    app.include_router(otlp_api.router)
    app.include_router(exports_api.router)
    app.include_router(retention_api.router)
    app.include_router(keys_api.router)
    app.include_router(review_api.router)
    # The browser path (/v1/feedback/{token}, /widget.js) and, if enabled, the demo chat.
    browser_api.install(app, settings)
    # The dashboard at / (pages, /ui/static assets, login); see docs/dashboard.md.
    install_dashboard(app, settings)

    @app.get("/healthz", tags=["ops"], summary="Liveness: no authentication")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    return app


def _alert_scheduler(store: Store, state: Any, settings: Settings) -> AlertScheduler:
    """Alerts after the signal job (when it is scheduled), on the flushed ingest buffer."""
    url = settings.alert_webhook_url
    return AlertScheduler(
        store,
        settings.alerts,
        settings.alerts_interval,
        flush=state.ingestor.flush,
        prepare=state.signals.run_now if settings.signals_interval > 0 else None,
        notifier=Notifier(url) if url else None,
    )
