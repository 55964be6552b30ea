"""The dashboard's pages: one function per page, each serving HTML at its path and the same
data as JSON at ``<path>.json`` (the datasette pattern). Pages call the analytics functions
in-process; the browser never calls ``/v1`` and never sees a key.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from promptloop.analytics import queries
from promptloop.analytics.compare import compare
from promptloop.analytics.metrics import Slicing, rate_metrics
from promptloop.analytics.queries import InteractionFilter
from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.records import as_utc
from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.exports.files import csv_cell
from promptloop.prompts import PromptRegistry
from promptloop.server.ui import data, sources
from promptloop.server.ui.auth import (
    Session,
    cookie_kwargs,
    csrf_ok,
    login_required,
    login_scope,
    new_session,
    require_write,
    revoke_session,
    session_of,
)
from promptloop.server.ui.render import respond, to_json, wants_json
from promptloop.server.ui.snapshots import PENDING, Snapshots
from promptloop.store.base import Store

RANGES = {"24h": 1, "7d": 7, "14d": 14, "30d": 30, "90d": 90}
OVERVIEW_DAYS = (7, 14, 30)
PAGE_SIZE = 50
SEARCH_BUDGET = 0.3  # seconds a search may scan before it returns a partial page
LOGIN_FAILURES_PER_MINUTE = 10


class LoginRequired(Exception):
    pass


class CsrfFailed(Exception):
    pass


# ---------------------------------------------------------------------- plumbing


def store_of(request: Request) -> Store:
    request.app.state.ingestor.flush()
    store: Store = request.app.state.store
    return store


def snapshots(request: Request) -> Snapshots:
    snaps: Snapshots = request.app.state.ui_snapshots
    return snaps


async def ui_session(request: Request) -> Session:
    """Every dashboard request: a valid session, logged in when auth is configured."""
    request.state.started = time.perf_counter()
    session = session_of(request)
    if login_required(request):
        if session is None or not session.authenticated:
            raise LoginRequired()
        require_write(request, session)
    elif session is None:
        session = new_session(request.app.state.settings, authenticated=False)
        request.state.new_session = session
    request.state.session = session
    return session


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form body, checked against the session's CSRF token."""
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
    presented = fields.get("csrf_token") or request.headers.get("x-csrf-token")
    if not csrf_ok(request, getattr(request.state, "session", None), presented):
        raise CsrfFailed()
    return fields


async def _snap(request: Request, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """A snapshot's value (or PENDING), waited for off the event loop.

    The waits of all snapshots of one request share one budget (``Snapshots.wait``).
    """
    snaps = snapshots(request)
    started: float = getattr(request.state, "started", time.perf_counter())
    remaining = snaps.wait - (time.perf_counter() - started)
    return await run_in_threadpool(snaps.get, key, compute, remaining)


def _pending(*values: Any) -> bool:
    return any(value is PENDING for value in values)


def _or_none(value: Any) -> Any:
    return None if value is PENDING else value


def _actor(request: Request) -> str:
    return "dashboard" if not request.app.state.dashboard_auth else "dashboard user"


router = APIRouter(include_in_schema=False)
pages = APIRouter(include_in_schema=False, dependencies=[Depends(ui_session)])


def page(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a GET page at ``path`` and its JSON twin at ``path + '.json'``."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        json_path = "/index.json" if path == "/" else f"{path}.json"
        pages.add_api_route(json_path, handler, methods=["GET"])
        pages.add_api_route(path, handler, methods=["GET"])
        return handler

    return register


# ---------------------------------------------------------------------- login


_failures: dict[str, list[float]] = {}


def _too_many_failures(client: str) -> bool:
    cutoff = time.monotonic() - 60
    recent = [t for t in _failures.get(client, []) if t > cutoff]
    _failures[client] = recent
    return len(recent) >= LOGIN_FAILURES_PER_MINUTE


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    request.state.started = time.perf_counter()
    if not login_required(request):
        return RedirectResponse(_safe_next(next), status_code=303)
    session = session_of(request)
    if session is not None and session.authenticated:
        return RedirectResponse(_safe_next(next), status_code=303)
    if session is None:
        session = new_session(request.app.state.settings, authenticated=False)
        request.state.new_session = session
    request.state.session = session
    return respond(request, "login.html", {"next": _safe_next(next), "error": None}, title="Log in")


@router.post("/login")
async def login(request: Request) -> Response:
    request.state.started = time.perf_counter()
    request.state.session = session_of(request)
    fields = await form_fields(request)
    settings = request.app.state.settings
    target = _safe_next(fields.get("next"))
    client = request.client.host if request.client else "?"
    if _too_many_failures(client):
        return respond(
            request,
            "login.html",
            {"next": target, "error": "Too many attempts: wait a minute and try again."},
            status=429,
            title="Log in",
        )
    scope = login_scope(request, fields.get("password", ""))
    if scope is None:
        _failures.setdefault(client, []).append(time.monotonic())
        return respond(
            request,
            "login.html",
            {"next": target, "error": "That password or API key is not valid."},
            status=401,
            title="Log in",
        )
    response = RedirectResponse(target, status_code=303)
    # A new session ID at login: a session planted before it is worth nothing after.
    fresh = new_session(settings, authenticated=True, scope=scope)
    response.set_cookie(**cookie_kwargs(request, fresh))  # type: ignore[arg-type]
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    request.state.session = session_of(request)
    await form_fields(request)
    revoke_session(request, request.state.session)
    response = RedirectResponse("/login" if login_required(request) else "/", 303)
    response.delete_cookie("promptloop_session", path="/")
    return response


# ---------------------------------------------------------------------- overview


@page("/")
async def overview(request: Request, days: int = 14) -> Response:
    if days not in OVERVIEW_DAYS:
        days = 14
    store = store_of(request)

    def compute() -> dict[str, Any]:
        return {
            "features": data.headline(store, days=days),
            "versions": data.active_versions(store, days=days),
        }

    # The cheap reads first: the snapshot's wait gets what is left of the request's budget.
    alerts, clusters, deployments, ranked = await run_in_threadpool(
        lambda: (
            sources.list_alerts(store, status="open", limit=5),
            sources.list_clusters(store, limit=50),
            data.recent_deployments(store),
            sources.priorities(store),
        )
    )
    headline = await _snap(request, ("overview", days), compute)
    payload = {
        "days": days,
        "day_choices": OVERVIEW_DAYS,
        "pending": _pending(headline),
        "features": None if headline is PENDING else headline["features"],
        "versions": None if headline is PENDING else headline["versions"],
        "headline": data.HEADLINE,
        "alerts": alerts,
        "patterns": _by_priority(clusters, ranked)[:5],
        "deployments": deployments,
    }
    return respond(request, "overview.html", payload, nav="overview", title="Overview")


def _by_priority(
    clusters: list[dict[str, Any]], ranked: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Clusters in the priority model's order when it has ranked them, else by size."""
    if not ranked:
        return clusters
    items = ranked["items"]
    for cluster in clusters:
        prio = items.get(cluster["cluster_id"])
        cluster["quadrant"] = prio["quadrant"] if prio else None
    return sorted(clusters, key=lambda c: items.get(c["cluster_id"], {}).get("rank") or 10**9)


# ---------------------------------------------------------------------- the seed's questions


@page("/questions/negative-inputs")
async def negative_inputs(
    request: Request,
    days: int = 14,
    feature: str | None = None,
    prompt_version: str | None = None,
) -> Response:
    days = min(max(days, 1), 3650)
    store = store_of(request)
    key = ("negative-inputs", days, feature or None, prompt_version or None)
    rows = await _snap(
        request,
        key,
        lambda: queries.top_negative_inputs(
            store,
            days=days,
            limit=50,
            feature=feature or None,
            prompt_version=prompt_version or None,
        ),
    )
    payload = {
        "question": "Most common inputs with negative feedback",
        "days": days,
        "feature": feature,
        "prompt_version": prompt_version,
        "pending": _pending(rows),
        "items": _or_none(rows),
        "range": _range_for(days),
    }
    return respond(
        request, "negative_inputs.html", payload, nav="overview", title="Negative inputs"
    )


def _range_for(days: int) -> str:
    return next((name for name, size in RANGES.items() if size == days), "all")


@page("/questions/regenerated")
async def regenerated(
    request: Request,
    prompt_version: str | None = None,
    days: int = 14,
    min_count: int = 2,
) -> Response:
    days = min(max(days, 1), 3650)
    min_count = max(min_count, 2)
    store = store_of(request)
    versions = await _snap(
        request, ("versions", days), lambda: data.active_versions(store, days=days)
    )
    rows: Any = None
    if prompt_version:
        rows = await _snap(
            request,
            ("regenerated", prompt_version, days, min_count),
            lambda: queries.regenerated_inputs(
                store, prompt_version=prompt_version, days=days, min_count=min_count, limit=50
            ),
        )
    payload = {
        "question": "Inputs regenerated more than once",
        "prompt_version": prompt_version,
        "days": days,
        "min_count": min_count,
        "versions": _or_none(versions) or [],
        "pending": _pending(rows, versions),
        "items": _or_none(rows),
        "range": _range_for(days),
    }
    return respond(request, "regenerated.html", payload, nav="overview", title="Regenerated inputs")


# ---------------------------------------------------------------------- prompt versions


def _prompt_index(store: Store) -> list[dict[str, Any]]:
    since = datetime.now(UTC) - timedelta(days=90)
    traffic = store.fetch_all(
        """
        SELECT prompt_name, min(feature) AS feature, count(*) AS interactions,
               count(DISTINCT prompt_version) AS versions_seen, max(timestamp) AS last_seen
        FROM llm_interaction_logs WHERE timestamp >= :since AND prompt_name IS NOT NULL
        GROUP BY prompt_name
        """,
        {"since": since},
    )
    registry = {row["prompt_name"]: row for row in PromptRegistry(store).names()}
    by_name: dict[str, dict[str, Any]] = {}
    for row in traffic:
        by_name[row["prompt_name"]] = {**row, "registered": row["prompt_name"] in registry}
    for name, row in registry.items():
        entry = by_name.setdefault(
            name,
            {
                "prompt_name": name,
                "feature": None,
                "interactions": 0,
                "versions_seen": 0,
                "last_seen": None,
                "registered": True,
            },
        )
        entry["registry"] = row
    return sorted(by_name.values(), key=lambda r: (-int(r["interactions"] or 0), r["prompt_name"]))


@page("/prompts")
async def prompts_index(request: Request) -> Response:
    store = store_of(request)
    items = await _snap(request, ("prompts",), lambda: _prompt_index(store))
    payload = {"pending": _pending(items), "items": _or_none(items)}
    return respond(request, "prompts.html", payload, nav="prompts", title="Prompt versions")


def _prompt_metrics(store: Store, name: str, days: int) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(days=days)
    scope = InteractionFilter(prompt_name=name, since=since)
    versions = rate_metrics(store, scope, Slicing(by=("feature", "prompt_version")))
    lines = data.version_series(store, name, since=since)
    comparisons = []
    for feature in sorted({str(v["feature"]) for v in versions if v["feature"]}):
        wanted = [str(v["prompt_version"]) for v in versions if v["feature"] == feature]
        if len(wanted) < 2:
            continue
        try:
            comparisons.append(compare(store, feature=feature, versions=wanted, since=since))
        except ValueError as exc:
            comparisons.append({"feature": feature, "error": str(exc), "comparisons": []})
    return {"versions": versions, "series": lines, "comparisons": comparisons}


def _prompt_registry(store: Store, name: str) -> dict[str, Any]:
    registry = PromptRegistry(store)
    versions = registry.versions(name)
    if not versions:
        return {
            "registered": False,
            "versions": [],
            "history": [],
            "labels": {},
            "deployments": [],
            "diffs": {},
        }
    diffs = {}
    for before, after in itertools.pairwise(versions):
        diffs[after.version] = registry.diff(name, before.version, after.version)
    return {
        "registered": True,
        "versions": [v.model_dump(mode="json") for v in versions],
        "history": registry.history(name),
        "labels": registry.labels(name),
        "deployments": [d.model_dump(mode="json") for d in registry.deployments(name)],
        "diffs": diffs,
    }


@page("/prompts/{name}")
async def prompt_detail(
    request: Request, name: str, days: int = 30, rate: str = "regeneration"
) -> Response:
    if request.url.path.endswith(".json") and name.endswith(".json"):
        name = name[: -len(".json")]
    days = min(max(days, 1), 3650)
    if rate not in data.SERIES_RATES:
        rate = "regeneration"
    store = store_of(request)
    registry = await run_in_threadpool(_prompt_registry, store, name)
    metrics = await _snap(
        request, ("prompt", name, days), lambda: _prompt_metrics(store, name, days)
    )
    if not registry["registered"] and metrics is not PENDING and not metrics["versions"]:
        return respond(
            request,
            "not_found.html",
            {"what": f"prompt {name!r}", "error": "not_found"},
            status=404,
            nav="prompts",
            title="Not found",
        )
    markers = [
        {"t": d["timestamp"], "label": f"{d['label']} → {d['to_version']}"}
        for d in registry["deployments"]
    ]
    payload = {
        "prompt_name": name,
        "markers": markers,
        "days": days,
        "rate": rate,
        "rates": data.SERIES_RATES,
        "pending": _pending(metrics),
        "metrics": _or_none(metrics),
        **registry,
    }
    return respond(request, "prompt.html", payload, nav="prompts", title=f"Prompt {name}")


# ---------------------------------------------------------------------- interactions explorer


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def explorer_filter(request: Request) -> tuple[data.ExplorerFilter, dict[str, str], list[str]]:
    """The explorer's filter from the query string, the cleaned parameters and any problems."""
    p = {k: v.strip() for k, v in request.query_params.items() if v.strip()}
    problems: list[str] = []
    feedback_type = p.get("feedback_type")
    valid_types = {t.value for t in FeedbackType} | {"negative"}
    if feedback_type and feedback_type not in valid_types:
        problems.append(f"unknown feedback type {feedback_type!r}")
        feedback_type = None
    source = p.get("feedback_source")
    if source and source not in {s.value for s in FeedbackSource}:
        problems.append(f"unknown feedback source {source!r}")
        source = None
    since, until = _parse_time(p.get("since")), _parse_time(p.get("until"))
    for key, parsed in (("since", since), ("until", until)):
        if p.get(key) and parsed is None:
            problems.append(f"{key} is not an ISO date or time")
    span = p.get("range")
    if span in RANGES and since is None:
        since = datetime.now(UTC) - timedelta(days=RANGES[span])
    base = InteractionFilter(
        prompt_version=p.get("prompt_version"),
        prompt_name=p.get("prompt_name"),
        feature=p.get("feature"),
        session_id=p.get("session_id"),
        model=p.get("model"),
        feedback_type=feedback_type,
        feedback_source=source,
        since=since,
        until=until,
    )
    q = p.get("q")
    return (
        data.ExplorerFilter(base=base, category=p.get("category"), q=q[:500] if q else None),
        p,
        problems,
    )


@page("/interactions")
async def interactions(
    request: Request, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Response:
    limit = min(max(limit, 1), 500)
    filters, params, problems = explorer_filter(request)
    store = store_of(request)
    try:
        result = await run_in_threadpool(
            lambda: data.list_page(store, filters, limit=limit, cursor=cursor, budget=SEARCH_BUDGET)
        )
    except ValueError as exc:
        problems.append(str(exc))
        result = data.ExplorerPage([], None)
    marks = await run_in_threadpool(
        data.feedback_marks, store, [r["interaction_id"] for r in result.rows]
    )
    for row in result.rows:
        row["feedback_types"] = marks.get(row["interaction_id"], [])
    facets = await _snap(request, ("facets",), lambda: data.facets(store))
    views = request.app.state.ui_views.all()
    filter_query = urlencode({k: v for k, v in params.items() if k not in ("cursor", "limit")})
    payload = {
        "items": result.rows,
        "next_cursor": result.next_cursor,
        "searched_back_to": result.searched_back_to,
        "filters": params,
        "filter_query": filter_query,
        "problems": problems,
        "facets": _or_none(facets) or {},
        "feedback_types": [t.value for t in FeedbackType],
        "feedback_sources": [s.value for s in FeedbackSource],
        "ranges": list(RANGES),
        "views": views,
        "first_page": cursor is None,
    }
    if wants_json(request):
        payload.pop("facets")
    return respond(request, "interactions.html", payload, nav="interactions", title="Interactions")


EXPORT_COLUMNS = tuple(c for c in queries.LIST_COLUMNS if c != "metadata")


def _csv_stream(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(
            [
                # csv_cell: text a spreadsheet would run as a formula gets a leading "'".
                as_utc(value).isoformat() if isinstance(value, datetime) else csv_cell(value)
                for value in (row.get(c) for c in EXPORT_COLUMNS)
            ]
        )
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_stream(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for row in rows:
        yield (b"" if first else b",\n") + to_json({c: row.get(c) for c in EXPORT_COLUMNS})
        first = False
    yield b"]\n"


@pages.get("/interactions/export.{fmt}")
async def export(request: Request, fmt: str) -> Response:
    """The explorer's current filter, every matching row, streamed newest first."""
    if fmt not in ("csv", "json"):
        return JSONResponse({"error": "not_found", "message": "export as .csv or .json"}, 404)
    filters, _, problems = explorer_filter(request)
    if problems:
        return JSONResponse({"error": "invalid_request", "message": "; ".join(problems)}, 422)
    store = store_of(request)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    rows = data.iter_rows(store, filters)
    headers = {"Content-Disposition": f'attachment; filename="interactions-{stamp}.{fmt}"'}
    if fmt == "csv":
        return StreamingResponse(
            _csv_stream(rows), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(_json_stream(rows), media_type="application/json", headers=headers)


@pages.post("/views")
async def save_view(request: Request) -> Response:
    fields = await form_fields(request)
    try:
        view = request.app.state.ui_views.add(fields.get("name", ""), fields.get("query", ""))
    except ValueError as exc:
        return JSONResponse({"error": "invalid_request", "message": str(exc)}, status_code=422)
    return RedirectResponse(f"/interactions?{view['query']}", status_code=303)


@pages.post("/views/{view_id}/delete")
async def delete_view(request: Request, view_id: str) -> Response:
    await form_fields(request)
    request.app.state.ui_views.delete(view_id)
    return RedirectResponse("/interactions", status_code=303)


# ---------------------------------------------------------------------- interaction detail


def _detail(store: Store, interaction_id: str) -> dict[str, Any] | None:
    found = queries.get_interaction(store, interaction_id)
    if found is None:
        return None
    analyses = data.edit_analyses(store, interaction_id)
    output = found.get("raw_output") or ""
    for event in found["feedback"]:
        if event.get("user_edit") is not None and event["feedback_type"] in ("edit", "correction"):
            event["diff"] = data.diff_ops(output, event["user_edit"])
            event["analysis"] = analyses.get(event["feedback_id"])
    found["edits"] = [e for e in found["feedback"] if "diff" in e]
    found["timeline"] = data.session_timeline(store, found.get("session_id"))
    found["regenerations"] = data.regenerations(store, interaction_id)
    found["registered_version"] = data.registered(
        store, found.get("prompt_name"), found.get("prompt_version")
    )
    return found


@page("/interactions/{interaction_id}")
async def interaction_detail(request: Request, interaction_id: str) -> Response:
    if interaction_id.endswith(".json") and request.url.path.endswith(".json"):
        interaction_id = interaction_id[: -len(".json")]
    store = store_of(request)
    found = await run_in_threadpool(_detail, store, interaction_id)
    if found is None:
        return respond(
            request,
            "not_found.html",
            {"what": f"interaction {interaction_id}", "error": "not_found"},
            status=404,
            nav="interactions",
            title="Not found",
        )
    return respond(
        request, "interaction.html", {"interaction": found}, nav="interactions", title="Interaction"
    )


# ---------------------------------------------------------------------- failure patterns


def _patterns(store: Store) -> dict[str, Any]:
    clusters = sources.list_clusters(store)
    sources.cluster_examples(store, clusters)
    stats = sources.cluster_stats(store, [c["cluster_id"] for c in clusters])
    ranked = sources.priorities(store)
    items = ranked["items"] if ranked else {}
    total = sum(int(c["size"] or 0) for c in clusters) or 1
    for cluster in clusters:
        extra = stats.get(cluster["cluster_id"], {})
        cluster["trend"] = extra.get("trend", [])
        prio = items.get(cluster["cluster_id"])
        if prio is not None:
            cluster.update(
                frequency=prio["frequency"],
                severity=prio["severity"],
                quadrant=prio["quadrant"],
                rank=prio["rank"],
                priority_source="priority",
            )
        else:
            frequency = int(cluster["size"] or 0) / total
            cluster.update(
                frequency=frequency,
                severity=extra.get("severity"),
                quadrant=_quadrant(frequency, extra.get("severity")),
                rank=None,
                priority_source="dashboard",
            )
    clusters.sort(
        key=lambda c: (
            c["rank"] if c["rank"] is not None else 10**9,
            -((c["frequency"] or 0) * (c["severity"] or 0)),
        )
    )
    splits = ranked["splits"] if ranked else sources.FALLBACK_SPLITS
    return {"clusters": clusters, "splits": splits}


def _quadrant(frequency: float | None, severity: float | None) -> str | None:
    if frequency is None or severity is None:
        return None
    frequent_at, severe_at = sources.FALLBACK_SPLITS
    frequent, severe = frequency >= frequent_at, severity >= severe_at
    return {
        (True, True): "next sprint",
        (False, True): "address promptly",
        (True, False): "batch into prompt maintenance",
        (False, False): "monitor",
    }[(frequent, severe)]


@page("/patterns")
async def patterns(request: Request) -> Response:
    store = store_of(request)
    found = await _snap(request, ("patterns",), lambda: _patterns(store))
    clusters = None if found is PENDING else found["clusters"]
    points = [
        {
            "id": c["cluster_id"],
            "label": c["label"],
            "x": c["frequency"],
            "y": c["severity"],
            "size": c["size"],
        }
        for c in clusters or []
        if c["frequency"] is not None and c["severity"] is not None
    ]
    payload = {
        "pending": _pending(found),
        "clusters": clusters,
        "points": points,
        "splits": sources.FALLBACK_SPLITS if found is PENDING else found["splits"],
        "triage_choices": sources.TRIAGE_CHOICES,
    }
    return respond(request, "patterns.html", payload, nav="patterns", title="Failure patterns")


@pages.post("/patterns/{cluster_id}/triage")
async def triage(request: Request, cluster_id: str) -> Response:
    fields = await form_fields(request)
    store = store_of(request)
    try:
        await run_in_threadpool(
            lambda: sources.triage(
                store,
                cluster_id,
                decision=fields.get("triage", ""),
                by=_actor(request),
                note=fields.get("note") or None,
            )
        )
    except NotFoundError as exc:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)
    except ValueError as exc:
        return JSONResponse({"error": "invalid_request", "message": str(exc)}, status_code=422)
    snapshots(request).clear()
    return RedirectResponse(f"/patterns#cluster-{quote(cluster_id)}", status_code=303)


# ---------------------------------------------------------------------- alerts


@page("/alerts")
async def alerts(request: Request, status: str = "active") -> Response:
    if status not in sources.ALERT_STATUSES:
        status = "active"
    store = store_of(request)
    items = await run_in_threadpool(lambda: sources.list_alerts(store, status=status))
    payload = {"status": status, "statuses": sources.ALERT_STATUSES, "items": items}
    return respond(request, "alerts.html", payload, nav="alerts", title="Alerts")


@page("/alerts/{alert_id}")
async def alert_detail(request: Request, alert_id: str) -> Response:
    if alert_id.endswith(".json") and request.url.path.endswith(".json"):
        alert_id = alert_id[: -len(".json")]
    store = store_of(request)
    try:
        alert = await run_in_threadpool(sources.get_alert, store, alert_id)
    except NotFoundError:
        return respond(
            request,
            "not_found.html",
            {"what": f"alert {alert_id}", "error": "not_found"},
            status=404,
            nav="alerts",
            title="Not found",
        )
    payload = {"alert": alert, "series": sources.alert_series(alert)}
    return respond(request, "alert.html", payload, nav="alerts", title="Alert")


@pages.post("/alerts/{alert_id}/ack")
async def acknowledge(request: Request, alert_id: str) -> Response:
    fields = await form_fields(request)
    store = store_of(request)
    by = (fields.get("by") or "").strip() or _actor(request)
    try:
        await run_in_threadpool(
            lambda: sources.acknowledge(
                store, alert_id, by=by[:80], note=fields.get("note") or None
            )
        )
    except NotFoundError as exc:
        return JSONResponse({"error": "not_found", "message": str(exc)}, status_code=404)
    except ConflictError:
        pass  # already acknowledged: show it as it is
    snapshots(request).clear()
    return RedirectResponse(f"/alerts/{quote(alert_id)}", status_code=303)
