"""Templates and responses: one page's data renders as HTML, or as JSON at ``<path>.json``."""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from promptloop.server.ui.auth import Session, cookie_kwargs, secret_of

TEMPLATES = Path(__file__).parent / "templates"
DASH = "\u2013"  # an en dash: "no value"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
STATIC = Path(__file__).parent / "static"


def pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{100 * float(value):.{digits}f}%"


def interval(rate: dict[str, Any] | None) -> str:
    """``[low-high]`` in percent for a Wilson interval dict (``low``/``high``)."""
    if not rate or rate.get("low") is None or rate.get("high") is None:
        return ""
    return f"[{100 * rate['low']:.1f}{DASH}{100 * rate['high']:.1f}]"


def when(value: Any, seconds: bool = False) -> str:
    if value is None:
        return DASH
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return str(value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"))
    return str(value)


def ago(value: Any, now: datetime | None = None) -> str:
    if not isinstance(value, datetime):
        return when(value)
    now = now or datetime.now(UTC)
    delta = (now - value).total_seconds()
    if delta < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return f"{int(delta)}s ago"


def number(value: Any) -> str:
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def short(value: Any, length: int = 120) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= length else text[: length - 1] + "…"


def sparkline(series: list[dict[str, Any]], key: str, width: int = 160, height: int = 30) -> Markup:
    """An inline SVG trend of ``point[key]`` (a rate) over the points: no script needed."""
    values = [p.get(key) for p in series]
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return Markup('<svg class="spark" aria-hidden="true"></svg>')
    top = max(known) or 1.0
    step = width / max(1, len(values) - 1)
    points = [
        (round(i * step, 1), round(height - 2 - (height - 4) * (v / top), 1))
        for i, v in enumerate(values)
        if v is not None
    ]
    line = " ".join(f"{x},{y}" for x, y in points)
    area = f"{points[0][0]},{height} {line} {points[-1][0]},{height}"
    last_x, last_y = points[-1]
    label = f"trend from {pct(known[0])} to {pct(known[-1])}"
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none"'
        f' role="img" aria-label="{label}">'
        f'<polygon class="spark-area" points="{area}"/>'
        f'<polyline class="spark-line" points="{line}" vector-effect="non-scaling-stroke"/>'
        f'<circle class="spark-dot" cx="{last_x}" cy="{last_y}" r="2"/></svg>'
    )


def search_key(value: Any, length: int = 100) -> str:
    """A piece of text to search for that still matches the original: its first line."""
    first = next((line.strip() for line in str(value or "").splitlines() if line.strip()), "")
    return first[:length]


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    return str(value)


def to_json(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def script_json(value: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block: '<' escaped, so no tag ends it."""
    text = to_json(value).decode().replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("&", "\\u0026"))


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (None removes one)."""
    params = dict(request.query_params)
    params.pop("cursor", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    pct=pct,
    interval=interval,
    when=when,
    ago=ago,
    number=number,
    short=short,
    script_json=script_json,
    sparkline=sparkline,
    search_key=search_key,
)


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def respond(
    request: Request,
    template: str,
    data: dict[str, Any],
    *,
    status: int = 200,
    nav: str = "",
    title: str = "",
) -> Response:
    """HTML from ``template`` or, at ``<path>.json``, the same ``data`` as JSON."""
    started: float = getattr(request.state, "started", time.perf_counter())
    if wants_json(request):
        response: Response = Response(
            to_json(data), status_code=status, media_type="application/json"
        )
    else:
        session: Session | None = getattr(request.state, "session", None)
        secret = secret_of(request)
        context = {
            **data,
            "request": request,
            "nav": nav,
            "title": title,
            "csrf_token": session.csrf_token(secret) if session else "",
            "logged_in": bool(session and session.authenticated),
            "auth_required": request.app.state.dashboard_auth,
            "query_with": lambda **kw: query_with(request, **kw),
            "server_ms": round(1000 * (time.perf_counter() - started), 1),
        }
        html = ENV.get_template(template).render(context)
        response = HTMLResponse(html, status_code=status)
    elapsed = 1000 * (time.perf_counter() - started)
    response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    # Everything comes from this collector: the browser refuses anything else.
    response.headers["Content-Security-Policy"] = CSP
    attach_cookie(request, response)
    return response


def attach_cookie(request: Request, response: Response) -> None:
    """Set the session cookie when this request created (or replaced) the session."""
    fresh: Session | None = getattr(request.state, "new_session", None)
    if fresh is not None:
        response.set_cookie(**cookie_kwargs(request, fresh))  # type: ignore[arg-type]
