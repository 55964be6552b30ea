"""The dashboard the collector serves at ``/``: server-rendered pages over the analytics.

:func:`install` adds the pages, their static assets (``/ui/static``, all served by the
collector: no CDN) and the login. See docs/dashboard.md.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from promptloop.server.settings import Settings
from promptloop.server.ui import evals_pages, pages
from promptloop.server.ui import review as review_pages
from promptloop.server.ui.auth import auth_required
from promptloop.server.ui.render import ENV, STATIC, TEMPLATES, wants_json
from promptloop.server.ui.snapshots import Snapshots
from promptloop.server.ui.views import SavedViews

__all__ = ["install"]


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from ``app``: pages at ``/``, assets at ``/ui/static``."""
    app.state.dashboard_auth = auth_required(settings)
    app.state.ui_snapshots = Snapshots()
    app.state.ui_views = SavedViews(settings.data_dir)
    # Compile the templates now, not on each page's first request.
    for template in sorted(TEMPLATES.glob("*.html")):
        ENV.get_template(template.name)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(pages.router)
    app.include_router(pages.pages)
    app.include_router(evals_pages.router)
    app.include_router(review_pages.router)

    @app.exception_handler(pages.LoginRequired)
    async def _login_required(request: Request, _: pages.LoginRequired) -> Response:
        path = request.url.path
        if wants_json(request) or "/export." in path or path.startswith("/review/api/"):
            return JSONResponse(
                {"error": "unauthorized", "message": "log in to the dashboard first"},
                status_code=401,
            )
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    @app.exception_handler(pages.CsrfFailed)
    async def _csrf_failed(_: Request, __: pages.CsrfFailed) -> Response:
        return JSONResponse(
            {"error": "forbidden", "message": "the form expired or was not sent by the dashboard"},
            status_code=403,
        )


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/")
