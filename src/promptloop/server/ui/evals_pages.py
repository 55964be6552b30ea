"""The dashboard's eval pages: runs, one run's matrix side by side, run-vs-run comparison
(with a chart) and datasets. Each page also answers as JSON at ``<path>.json``.

Held-out items count in every number but their text never appears here: the dashboard is a
tuning view. (The CLI's --include-holdout is the explicit, logged way to look.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptloop.evals import datasets, holdout, reports
from promptloop.exceptions import NotFoundError
from promptloop.server.ui.pages import store_of, ui_session
from promptloop.server.ui.render import respond
from promptloop.store.base import Store

router = APIRouter(include_in_schema=False, dependencies=[Depends(ui_session)])
NAV = "evals"
MAX_ITEMS_SHOWN = 200


def page(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET page at ``path`` and its JSON twin at ``path + '.json'``."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(f"{path}.json", handler, methods=["GET"])
        router.add_api_route(path, handler, methods=["GET"])
        return handler

    return register


def _strip_json(request: Request, value: str) -> str:
    if value.endswith(".json") and request.url.path.endswith(".json"):
        return value[: -len(".json")]
    return value


def _not_found(request: Request, what: str) -> Response:
    return respond(
        request,
        "not_found.html",
        {"what": what, "error": "not_found"},
        status=404,
        nav=NAV,
        title="Not found",
    )


# ---------------------------------------------------------------------- index


def _index(store: Store) -> dict[str, Any]:
    runs = reports.list_runs(store, limit=100)
    for run in runs:
        cells = (run.get("summary") or {}).get("cells") or []
        run["best"] = max(cells, key=lambda c: c["pass_rate"]["rate"] or 0.0, default=None)
    return {
        "runs": runs,
        "datasets": datasets.list_datasets(store),
        "holdout": holdout.holdout_report(store),
    }


@page("/evals")
async def evals_index(request: Request) -> Response:
    store = store_of(request)
    payload = await run_in_threadpool(_index, store)
    return respond(request, "evals.html", payload, nav=NAV, title="Evals")


# ---------------------------------------------------------------------- one run


def _matrix(store: Store, run_id: str) -> dict[str, Any]:
    run = reports.get_run(store, run_id)
    rows = reports.results(store, run["run_id"])
    cells = (run.get("summary") or {}).get("cells") or []
    columns = [(c["prompt_label"], c["provider_id"]) for c in cells]
    items: dict[str, dict[str, Any]] = {}
    hidden: set[str] = set()
    for row in rows:
        if row.get("hidden"):
            hidden.add(str(row["item_id"]))
            continue
        entry = items.setdefault(
            str(row["item_id"]),
            {"item_id": row["item_id"], "input": row.get("input"), "cells": {}},
        )
        key = f"{row['prompt_label']}\x1f{row['provider_id']}"
        cell = entry["cells"].setdefault(
            key, {"passed": 0, "n": 0, "output": row.get("output"), "reason": row.get("reason")}
        )
        cell["n"] += 1
        cell["passed"] += 1 if row["passed"] else 0
        if not row["passed"]:
            cell["reason"] = row.get("reason")
    shown = list(items.values())[:MAX_ITEMS_SHOWN]
    for entry in shown:
        entry["row"] = [entry["cells"].get(f"{p}\x1f{v}") for p, v in columns]
        del entry["cells"]
    return {
        "run": run,
        "cells": cells,
        "columns": [{"prompt_label": p, "provider_id": v} for p, v in columns],
        "items": shown,
        "items_total": len(items),
        "holdout_hidden": len(hidden),
        "other_runs": [r["run_id"] for r in reports.list_runs(store, limit=20)],
    }


@page("/evals/runs/{run_id}")
async def run_detail(request: Request, run_id: str) -> Response:
    run_id = _strip_json(request, run_id)
    store = store_of(request)
    try:
        payload = await run_in_threadpool(_matrix, store, run_id)
    except (NotFoundError, ValueError):
        return _not_found(request, f"eval run {run_id}")
    return respond(request, "eval_run.html", payload, nav=NAV, title=f"Eval run {run_id}")


# ---------------------------------------------------------------------- comparison


def _comparison(store: Store, baseline: str, candidate: str) -> dict[str, Any]:
    found = reports.compare_runs(store, baseline, candidate)
    chart = {
        "labels": ["all", "development", "holdout"],
        "baseline": [
            found["baseline_pass_rate"]["rate"],
            found["splits"]["dev"]["baseline"]["rate"],
            found["splits"]["holdout"]["baseline"]["rate"],
        ],
        "candidate": [
            found["candidate_pass_rate"]["rate"],
            found["splits"]["dev"]["candidate"]["rate"],
            found["splits"]["holdout"]["candidate"]["rate"],
        ],
        "names": [found["baseline"], found["candidate"]],
    }
    return {**found, "chart": chart}


@page("/evals/compare")
async def compare(request: Request, baseline: str = "", candidate: str = "") -> Response:
    store = store_of(request)
    runs = await run_in_threadpool(lambda: reports.list_runs(store, limit=100))
    sides = [
        f"{run['run_id']}/{cell['prompt_label']}/{cell['provider_id']}"
        for run in runs
        for cell in (run.get("summary") or {}).get("cells") or []
    ]
    payload: dict[str, Any] = {
        "sides": sides,
        "baseline": baseline,
        "candidate": candidate,
        "comparison": None,
        "error": None,
    }
    if baseline and candidate:
        try:
            payload["comparison"] = await run_in_threadpool(_comparison, store, baseline, candidate)
        except (NotFoundError, ValueError) as exc:
            payload["error"] = str(exc)
    status = 422 if payload["error"] else 200
    return respond(request, "eval_compare.html", payload, status=status, nav=NAV, title="Compare")


# ---------------------------------------------------------------------- datasets


def _dataset(store: Store, reference: str) -> dict[str, Any]:
    name, version = datasets.resolve(store, reference)
    found = datasets.get_dataset(store, name, version)
    rows = datasets.items(store, name, version, splits=("dev",))
    return {
        "dataset": found,
        "items": rows[:MAX_ITEMS_SHOWN],
        "items_total": len(rows),
        "runs": reports.list_runs(store, dataset=name, limit=50),
        "holdout": holdout.holdout_report(store, name),
    }


@page("/evals/datasets/{reference}")
async def dataset_detail(request: Request, reference: str) -> Response:
    reference = _strip_json(request, reference)
    store = store_of(request)
    try:
        payload = await run_in_threadpool(_dataset, store, reference)
    except (NotFoundError, ValueError):
        return _not_found(request, f"dataset {reference}")
    return respond(request, "eval_dataset.html", payload, nav=NAV, title=f"Dataset {reference}")
