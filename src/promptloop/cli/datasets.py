"""``promptloop dataset``: eval datasets built from real interactions, curated by people.

``build`` selects interactions (negative feedback, a feedback type, a failure cluster, a
random sample) into a new version of a named dataset; items from negative feedback are
candidates until ``accept`` (with an expected property) or ``reject``. ``show`` and
``export`` leave the holdout out unless --include-holdout, and that look is logged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from promptloop.analytics.clusters import resolve_id
from promptloop.cli import _output as out
from promptloop.cli._backend import target_of
from promptloop.cli._errors import EXIT_FAILURE, CliError, usage_error
from promptloop.cli._options import JsonFlag, check_feedback_type, default_user, parse_time
from promptloop.cli.evals import (
    IncludeHoldoutOpt,
    LocalEvals,
    open_evals,
    parse_assertions,
    parse_since,
)
from promptloop.evals.datasets import STATUSES
from promptloop.evals.formats import FORMATS
from promptloop.evals.holdout import DEFAULT_HOLDOUT_FRACTION

app = typer.Typer(
    help="Eval datasets from real interactions: build, curate (accept/reject), export, import.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

DatasetArg = Annotated[
    str, typer.Argument(help="Dataset NAME (its latest version) or NAME@VERSION.")
]
HoldoutOpt = Annotated[
    float,
    typer.Option("--holdout", min=0.0, max=0.9, help="Share held out for validation (0-0.9)."),
]


def _source(value: str) -> tuple[str, str | None]:
    """``negative``, ``all``, ``sample``, ``cluster:ID`` or a feedback type."""
    if value.startswith("cluster:"):
        return "cluster", value.split(":", 1)[1].strip() or None
    if value in ("negative", "all"):
        return value, None
    if value == "sample":
        return "all", None
    try:
        check_feedback_type(value)
    except CliError:
        raise usage_error(
            "--from",
            f"{value!r} is not negative, all, sample, cluster:ID or a feedback type "
            "(thumbs_down, correction, edit, ...)",
        ) from None
    return value, None


@app.command("build")
def build(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset's name; each build adds a version.")],
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="negative (any negative feedback), a feedback type (thumbs_down, correction, "
            "...), cluster:ID, sample or all.",
        ),
    ] = "negative",
    feature: Annotated[str | None, typer.Option("--feature", help="Only this feature.")] = None,
    prompt_name: Annotated[
        str | None, typer.Option("--prompt-name", help="Only this prompt.")
    ] = None,
    prompt_version: Annotated[
        str | None, typer.Option("--prompt-version", help="Only this prompt version.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="14d, 12h, 2w or an ISO-8601 date.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO-8601 end (exclusive).")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="A uniform random sample of N.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="The sample's seed.")] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most N (the most recent).")
    ] = None,
    holdout: HoldoutOpt = DEFAULT_HOLDOUT_FRACTION,
    description: Annotated[
        str | None, typer.Option("--description", help="What the dataset is for.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Select interactions into a new version of a dataset (negative ones as candidates)."""
    kind, cluster = _source(source)
    if source == "sample" and sample is None:
        raise usage_error("--sample", "--from sample needs --sample N")
    query: dict[str, Any] = {
        "source": kind,
        "feature": feature,
        "prompt_name": prompt_name,
        "prompt_version": prompt_version,
        "model": model,
        "since": parse_since("--since", since),
        "until": parse_time("--until", until),
        "cluster_id": cluster,
        "sample": sample,
        "seed": seed,
        "limit": limit,
    }
    with open_evals(target_of(ctx)) as backend:
        if cluster and isinstance(backend, LocalEvals):
            try:
                query["cluster_id"] = resolve_id(backend.store, cluster)
            except ValueError as exc:
                raise usage_error("--from", str(exc)) from None
        found = backend.call(
            "build_dataset",
            name=name,
            query=query,
            description=description,
            holdout_fraction=holdout,
            created_by=default_user(),
        )
    if as_json:
        out.print_json(found)
        return
    out.console().print(_summary(found))
    if found["candidate"]:
        out.console().print(
            Text(
                f"Next: promptloop dataset show {found['name']}@{found['version']} --status "
                "candidate, then accept ITEM --expect '...' or reject ITEM"
            )
        )


def _summary(found: dict[str, Any]) -> Text:
    return Text(
        f"{found['name']}@{found['version']}: {found['items']} items "
        f"({found['candidate']} candidates, {found['accepted']} accepted, "
        f"{found['rejected']} rejected); accepted dev {found['accepted_dev']}, "
        f"holdout {found['accepted_holdout']} (hidden from tuning views)"
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every dataset version with its items by status and split, and holdout use."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call("list_datasets")
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for column in (
        "dataset",
        "created",
        "items",
        "candidates",
        "accepted dev",
        "accepted holdout",
        "holdout runs",
        "description",
    ):
        table.add_column(column)
    for row in found["items"]:
        table.add_row(
            out.text(f"{row['name']}@{row['version']}"),
            out.when(row["created_at"]),
            out.number(row["items"]),
            out.number(row["candidate"]),
            out.number(row["accepted_dev"]),
            out.number(row["accepted_holdout"]),
            out.number(row["holdout_evaluations"]),
            out.text(row.get("description"), limit=40),
        )
    out.console().print(out.titled(f"{len(found['items'])} dataset versions", table))


@app.command("show")
def show(
    ctx: typer.Context,
    dataset: DatasetArg,
    status: Annotated[
        str | None, typer.Option("--status", help="Only candidate, accepted or rejected items.")
    ] = None,
    include_holdout: IncludeHoldoutOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Show N items.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """A dataset's development items (held-out ones only with --include-holdout, logged)."""
    if status is not None and status not in STATUSES:
        raise usage_error("--status", f"{status!r} is not one of: {', '.join(STATUSES)}")
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "show_dataset",
            dataset=dataset,
            status=status,
            include_holdout=include_holdout,
            actor=default_user(),
            limit=limit,
        )
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for column in ("item", "split", "status", "input", "bad output", "reference", "expected"):
        table.add_column(column)
    for item in found["items"]:
        expected = item.get("expected") or ", ".join(
            f"{a.get('type')}:{a.get('value')}" for a in item.get("assertions") or []
        )
        table.add_row(
            out.text(item["item_id"]),
            out.text(item["split"]),
            out.text(item["status"]),
            out.text(item.get("input"), limit=50),
            out.text(item.get("bad_output"), limit=50),
            out.text(item.get("reference"), limit=40),
            out.text(expected, limit=40),
        )
    note = (
        f"{found['holdout_hidden']} held-out items hidden (--include-holdout shows them; "
        "that look is logged)"
        if found["holdout_hidden"]
        else None
    )
    title = f"{_summary(found['dataset'])}; showing {len(found['items'])} of {found['total']}"
    out.console().print(out.titled(title, table, note))


def _decide(
    ctx: typer.Context,
    item_ids: list[str],
    status: str,
    *,
    expected: str | None = None,
    assertions: list[dict[str, Any]] | None = None,
    reference: str | None = None,
    as_json: bool,
) -> None:
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "decide",
            item_ids=item_ids,
            status=status,
            by=default_user() or "cli",
            expected=expected,
            assertions=assertions or [],
            reference=reference,
        )
    if as_json:
        out.print_json(found)
    else:
        out.console().print(Text(f"{status} {len(found['items'])} item(s)"))
    for error in found["errors"]:
        out.err_console().print(
            Text(f"error: {error['item_id']}: {error['message']}", style="red"), soft_wrap=True
        )
    if found["errors"]:
        raise typer.Exit(EXIT_FAILURE if found["items"] else 2)


@app.command("accept")
def accept(
    ctx: typer.Context,
    item_ids: Annotated[list[str], typer.Argument(help="Item IDs (from dataset show).")],
    expect: Annotated[
        str | None,
        typer.Option("--expect", help="The expected property, in words (a judge grades it)."),
    ] = None,
    assertion: Annotated[
        list[str] | None,
        typer.Option("--assert", help="An expected property as TYPE:VALUE (repeat)."),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="A reference answer (default: the user's edit)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Accept candidates with an expected property, so they count in eval runs."""
    _decide(
        ctx,
        item_ids,
        "accepted",
        expected=expect,
        assertions=parse_assertions(assertion),
        reference=reference,
        as_json=as_json,
    )


@app.command("reject")
def reject(
    ctx: typer.Context,
    item_ids: Annotated[list[str], typer.Argument(help="Item IDs (from dataset show).")],
    as_json: JsonFlag = False,
) -> None:
    """Reject candidates: they stay in the dataset but never count."""
    _decide(ctx, item_ids, "rejected", as_json=as_json)


@app.command("export")
def export(
    ctx: typer.Context,
    dataset: DatasetArg,
    fmt: Annotated[
        str, typer.Option("--format", help="jsonl, csv or promptfoo (a tests YAML).")
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    status: Annotated[
        str, typer.Option("--status", help="accepted, candidate, rejected or all.")
    ] = "accepted",
    include_holdout: IncludeHoldoutOpt = False,
) -> None:
    """Export items (development only unless --include-holdout, which is logged)."""
    if fmt not in FORMATS:
        raise usage_error("--format", f"{fmt!r} is not one of: {', '.join(FORMATS)}")
    if status != "all" and status not in STATUSES:
        raise usage_error("--status", f"{status!r} is not one of: all, {', '.join(STATUSES)}")
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "export_dataset",
            dataset=dataset,
            format=fmt,
            status=None if status == "all" else status,
            include_holdout=include_holdout,
            actor=default_user(),
        )
    if output is None:
        sys.stdout.write(found["content"])
        return
    output.write_text(found["content"], encoding="utf-8")
    out.err_console().print(Text(f"wrote {found['items']} items to {output}"))


@app.command("import")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The dataset to add a version to.")],
    file: Annotated[Path, typer.Argument(help="A JSONL or CSV file (as export writes them).")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the suffix).")
    ] = None,
    holdout: HoldoutOpt = DEFAULT_HOLDOUT_FRACTION,
    description: Annotated[
        str | None, typer.Option("--description", help="What the dataset is for.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import items as a new dataset version; invalid lines are reported, valid ones stored."""
    chosen = fmt or file.suffix.lstrip(".").lower()
    if chosen not in ("jsonl", "csv"):
        raise usage_error("--format", f"{chosen!r} cannot be imported; one of: jsonl, csv")
    try:
        content = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise usage_error("FILE", f"cannot read {file}: {exc.strerror}") from None
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "import_dataset",
            name=name,
            content=content,
            format=chosen,
            holdout_fraction=holdout,
            description=description,
            created_by=default_user(),
        )
    if as_json:
        out.print_json(found)
    else:
        out.console().print(
            Text(f"imported {found['imported']} items: ") + _summary(found["dataset"])
        )
    for error in found["errors"]:
        out.err_console().print(Text(f"skipped {error}", style="yellow"), soft_wrap=True)
