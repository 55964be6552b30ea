"""The eval operations as the HTTP API and the CLI both offer them: plain arguments in,
JSON-ready dicts out. ``/v1/evals/...`` routes call these; the CLI calls them on a local
store, or the routes through the collector."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from promptloop.core.records import as_utc
from promptloop.evals import datasets, formats, holdout, planning, promote, reports, runner
from promptloop.evals.datasets import DatasetQuery
from promptloop.store.base import Store

MAX_SHOWN = 1000


def as_json(value: Any) -> dict[str, Any]:
    """Datetimes as ISO-8601, everything else as JSON would have it."""
    found: dict[str, Any] = json.loads(json.dumps(value, default=_default))
    return found


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return str(value)


# ---------------------------------------------------------------------- datasets


def build_dataset(
    store: Store,
    *,
    name: str,
    query: Mapping[str, Any],
    description: str | None = None,
    holdout_fraction: float = holdout.DEFAULT_HOLDOUT_FRACTION,
    created_by: str | None = None,
) -> dict[str, Any]:
    fields = dict(query)
    for key in ("since", "until"):
        if isinstance(fields.get(key), str):
            fields[key] = as_utc(datetime.fromisoformat(fields[key]))
    unknown = set(fields) - set(DatasetQuery.__dataclass_fields__)
    if unknown:
        raise ValueError(f"query: unknown field(s) {', '.join(sorted(unknown))}")
    found = datasets.build_dataset(
        store,
        name,
        DatasetQuery(**fields),
        description=description,
        holdout_fraction=holdout_fraction,
        created_by=created_by,
    )
    return as_json(found)


def list_datasets(store: Store) -> dict[str, Any]:
    return as_json({"items": datasets.list_datasets(store)})


def show_dataset(
    store: Store,
    *,
    dataset: str,
    status: str | None = None,
    include_holdout: bool = False,
    actor: str | None = None,
    limit: int = MAX_SHOWN,
) -> dict[str, Any]:
    if status is not None and status not in datasets.STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(datasets.STATUSES)}")
    found, rows = datasets.read_items(
        store, dataset, status=status, include_holdout=include_holdout, actor=actor
    )
    return as_json(
        {
            "dataset": found,
            "items": rows[:limit],
            "total": len(rows),
            "holdout_hidden": 0
            if include_holdout
            else int(found["items"]) - _dev_total(store, found),
        }
    )


def _dev_total(store: Store, found: Mapping[str, Any]) -> int:
    rows = store.fetch_all(
        "SELECT count(*) AS n FROM eval_items WHERE dataset = :name AND version = :version"
        " AND split = 'dev'",
        {"name": found["name"], "version": found["version"]},
    )
    return int(rows[0]["n"])


def decide(
    store: Store,
    *,
    item_ids: Sequence[str],
    status: str,
    by: str,
    expected: str | None = None,
    assertions: Sequence[Mapping[str, Any]] = (),
    reference: str | None = None,
) -> dict[str, Any]:
    """Accept or reject items; each failure is reported, the others are stored."""
    done, errors = datasets.decide_many(
        store,
        item_ids,
        status,
        by=by,
        expected=expected,
        assertions=assertions,
        reference=reference,
    )
    return as_json({"items": done, "errors": errors})


def export_dataset(
    store: Store,
    *,
    dataset: str,
    format: str = "jsonl",
    status: str | None = "accepted",
    include_holdout: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    if format not in formats.FORMATS:
        raise ValueError(f"format: {format!r} is not one of {', '.join(formats.FORMATS)}")
    found, rows = datasets.read_items(
        store,
        dataset,
        status=status,
        include_holdout=include_holdout,
        actor=actor,
        purpose="export",
    )
    description = f"{found['name']}@{found['version']}: {found.get('description') or ''}".strip()
    content = formats.render(rows, format, description=description.rstrip(":"))
    return as_json({"dataset": found, "format": format, "items": len(rows), "content": content})


def import_dataset(
    store: Store,
    *,
    name: str,
    content: str,
    format: str = "jsonl",
    holdout_fraction: float = holdout.DEFAULT_HOLDOUT_FRACTION,
    description: str | None = None,
    created_by: str | None = None,
) -> dict[str, Any]:
    report = formats.parse(content, format)
    if not report.items:
        detail = f": {report.errors[0]}" if report.errors else ""
        raise ValueError(f"content: no valid items to import{detail}")
    found = datasets.create_version(
        store,
        name,
        report.items,
        query={"source": f"import:{format}"},
        description=description,
        holdout_fraction=holdout_fraction,
        created_by=created_by,
        source="import",
    )
    return as_json({"dataset": found, "imported": len(report.items), "errors": report.errors})


# ---------------------------------------------------------------------- runs


def run_eval(
    store: Store,
    request: planning.RunRequest,
    *,
    progress: runner.Progress | None = None,
) -> dict[str, Any]:
    plan, unsupported = planning.plan_for(store, request)
    warnings = []
    missing_judge = planning.needs_judge(plan)
    if missing_judge and plan.grader is None:
        raise ValueError(
            f"judge: {', '.join(missing_judge)} assertions need a judge: pass a judge provider "
            "(e.g. openai:chat:gpt-4o-mini) or set defaultTest.options.provider"
        )
    calibration = (plan.judge or {}).get("calibration") or {}
    if plan.grader is not None and calibration.get("warning"):
        warnings.append(calibration["warning"])
    note = _note(unsupported)
    if note:
        warnings.append(note)
    run_id = runner.run(store, plan, progress=progress)
    return as_json(
        {
            "run": reports.get_run(store, run_id),
            "unsupported": unsupported,
            "warnings": warnings,
            "skipped_candidates": plan.extra.get("candidates_skipped", 0),
        }
    )


def _note(unsupported: Sequence[str]) -> str | None:
    if not unsupported:
        return None
    return "not run (unsupported by promptloop): " + ", ".join(unsupported)


def list_runs(store: Store, *, dataset: str | None = None, limit: int = 100) -> dict[str, Any]:
    return as_json({"items": reports.list_runs(store, dataset=dataset, limit=limit)})


def show_run(store: Store, *, run: str, include_holdout: bool = False) -> dict[str, Any]:
    found = reports.get_run(store, run)
    rows = reports.results(store, found["run_id"], include_holdout_text=include_holdout)
    held = sum(1 for row in rows if row["split"] == "holdout")
    if include_holdout and held and found.get("dataset"):
        holdout.record_access(
            store,
            found["dataset"],
            int(found["dataset_version"]),
            kind="show",
            items=held,
            actor=None,
            run_id=found["run_id"],
        )
    return as_json({"run": found, "results": rows})


def compare(
    store: Store,
    *,
    baseline: str,
    candidate: str,
    split: str = "all",
    include_holdout: bool = False,
) -> dict[str, Any]:
    return as_json(
        reports.compare_runs(
            store,
            baseline,
            candidate,
            splits=planning.splits_of(split),
            include_holdout_text=include_holdout,
        )
    )


def gate(
    store: Store,
    *,
    baseline: str,
    candidate: str,
    min_pass_rate: float | None = None,
    alpha: float = reports.ALPHA,
    split: str = "all",
) -> dict[str, Any]:
    found = reports.gate(
        store,
        baseline,
        candidate,
        min_pass_rate=min_pass_rate,
        alpha=alpha,
        splits=planning.splits_of(split),
    )
    warnings = []
    for side in (found["baseline"], found["candidate"]):
        run = reports.get_run(store, side.split("/", 1)[0])
        calibration = ((run.get("config") or {}).get("judge") or {}).get("calibration") or {}
        if calibration.get("warning"):
            warnings.append(f"run {run['run_id']} was graded by a judge: {calibration['warning']}")
    if found.get("holdout_warning"):
        warnings.append(found["holdout_warning"])
    return as_json({**found, "warnings": sorted(set(warnings))})


def holdout_report(store: Store, *, dataset: str | None = None) -> dict[str, Any]:
    return as_json({"items": holdout.holdout_report(store, dataset)})


def promote_run(
    store: Store,
    *,
    run: str,
    prompt: str | None = None,
    baseline: str | None = None,
    label: str = "production",
    name: str | None = None,
    version: str | None = None,
    note: str | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    return as_json(
        promote.promote_from_run(
            store,
            run,
            prompt_label=prompt,
            baseline=baseline,
            label=label,
            name=name,
            version=version,
            note=note,
            actor=by,
        )
    )
