"""``promptloop interactions``: list interactions, show one with its feedback."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from promptloop.analytics.queries import MAX_PAGE_SIZE
from promptloop.cli import _output as out
from promptloop.cli._backend import open_backend, target_of
from promptloop.cli._options import (
    DaysOpt,
    FeatureOpt,
    FeedbackSourceOpt,
    FeedbackTypeOpt,
    JsonFlag,
    ModelOpt,
    PromptNameOpt,
    PromptVersionOpt,
    SessionOpt,
    SinceOpt,
    UntilOpt,
    interaction_filter,
    parse_time,
    window_start,
)

app = typer.Typer(
    help="List interactions and show one with its feedback.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command("list")
def list_interactions(
    ctx: typer.Context,
    prompt_version: PromptVersionOpt = None,
    prompt_name: PromptNameOpt = None,
    feature: FeatureOpt = None,
    session: SessionOpt = None,
    model: ModelOpt = None,
    feedback_type: FeedbackTypeOpt = None,
    feedback_source: FeedbackSourceOpt = None,
    since: SinceOpt = None,
    days: DaysOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Page size.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="Continue from the cursor a previous page printed.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List interactions, newest first, one page at a time."""
    filters = interaction_filter(
        prompt_version=prompt_version,
        prompt_name=prompt_name,
        feature=feature,
        session=session,
        model=model,
        feedback_type=feedback_type,
        feedback_source=feedback_source,
        since=window_start(since, days),
        until=parse_time("--until", until),
    )
    with open_backend(target_of(ctx)) as backend:
        page = backend.interactions(filters, limit=limit, cursor=cursor)
        where = backend.where
    if as_json:
        out.print_json(page)
        return
    console = out.console()
    rows = page["items"]
    table = _interactions_table(rows, console.width)
    console.print(out.titled(f"{len(rows)} interactions ({where})", table))
    if page.get("next_cursor"):
        console.print(Text(f"next page: --cursor {page['next_cursor']}"), soft_wrap=True)


def _interactions_table(rows: list[dict[str, Any]], width: int) -> Table:
    """Time, ID and latency keep their width; feature and version only on wide terminals."""
    wide = width >= 110
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("time", width=17, no_wrap=True)
    table.add_column("interaction id", width=36, no_wrap=True)
    if wide:
        table.add_column("feature", overflow="fold")
        table.add_column("version", overflow="fold")
    table.add_column("input")
    table.add_column("latency", justify="right", width=9, no_wrap=True)
    for row in rows:
        shown = [out.text(row.get("feature")), out.text(row.get("prompt_version"))] if wide else []
        table.add_row(
            out.when(row.get("timestamp"), seconds=False),
            Text(str(row["interaction_id"])),
            *shown,
            out.text(row.get("user_input"), limit=80),
            out.number(row.get("latency_ms"), suffix=" ms"),
        )
    return table


@app.command("show")
def show(
    ctx: typer.Context,
    interaction_id: Annotated[str, typer.Argument(help="The interaction ID (a UUID).")],
    as_json: JsonFlag = False,
) -> None:
    """One interaction: input, output, system prompt, metadata and every feedback event."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.interaction(interaction_id)
    if as_json:
        out.print_json(found)
        return
    console = out.console()
    if found.get("missing"):
        note = f"interaction {interaction_id} is not stored (yet); feedback linked to it:"
        console.print(Text(note, style="yellow"))
    else:
        console.print(_details(found))
    console.print(_feedback(found.get("feedback", [])))


def _details(row: dict[str, Any]) -> Group:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    tokens = f"{row.get('input_tokens') or '-'} in / {row.get('output_tokens') or '-'} out"
    for label, value in (
        ("interaction", out.text(row["interaction_id"])),
        ("time", out.when(row.get("timestamp"))),
        (
            "session / user",
            out.text(f"{row.get('session_id') or '-'} / {row.get('user_id') or '-'}"),
        ),
        ("feature", out.text(row.get("feature"))),
        ("prompt", out.text(_prompt_label(row))),
        ("model", out.text(row.get("model"))),
        ("tokens", out.text(tokens)),
        ("latency", out.number(row.get("latency_ms"), suffix=" ms")),
        ("cost", out.money(row.get("cost_usd"))),
        ("parent", out.text(row.get("parent_interaction_id"))),
        ("error", out.text(row.get("error"))),
    ):
        facts.add_row(label, value)
    metadata = json.dumps(row.get("metadata") or {}, indent=2, ensure_ascii=False)
    return Group(
        Panel(facts, title="interaction", title_align="left"),
        Panel(out.text(row.get("user_input")), title="input", title_align="left"),
        Panel(out.text(row.get("raw_output")), title="output", title_align="left"),
        Panel(out.text(row.get("system_prompt")), title="system prompt", title_align="left"),
        Panel(Text(metadata), title="metadata", title_align="left"),
    )


def _prompt_label(row: dict[str, Any]) -> str:
    name = row.get("prompt_name") or "-"
    version = row.get("prompt_version") or "-"
    digest = f" (hash {row['prompt_hash']})" if row.get("prompt_hash") else ""
    return f"{name} version {version}{digest}"


def _feedback(events: list[dict[str, Any]]) -> RenderableType:
    return out.titled(f"{len(events)} feedback events", _feedback_table(events))


def _feedback_table(events: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("time", "type", "category", "value", "source", "detail"):
        table.add_column(name)
    for event in events:
        detail = event.get("comment") or event.get("user_edit")
        table.add_row(
            out.when(event.get("timestamp")),
            out.text(event.get("feedback_type")),
            out.text(event.get("category")),
            out.text(event.get("value")),
            out.text(event.get("source")),
            out.text(detail, limit=80),
        )
    return table


@app.command("feedback")
def feedback(
    ctx: typer.Context,
    interaction_id: Annotated[str, typer.Argument(help="The interaction ID (a UUID).")],
    as_json: JsonFlag = False,
) -> None:
    """The feedback events linked to one interaction, oldest first."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.feedback(interaction_id)
    if as_json:
        out.print_json(found)
        return
    out.console().print(_feedback(found["items"]))
