"""``promptloop signals``: run the implicit-signal inference job, see its last run."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_backend, target_of
from promptloop.cli._options import JsonFlag

app = typer.Typer(
    help="The implicit-signal inference job: regenerations, edits, abandonment, follow-ups.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command("run")
def run(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Re-examine every session, not only what changed since the last run."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Infer implicit signals now (idempotent: running it again never double-counts).

    On --store the job runs here, on the store opened for writing; with --url (or when the
    store is held by a running collector) the collector runs it.
    """
    with open_backend(target_of(ctx), write=True) as backend:
        found = backend.run_signals(full=full)
        where = backend.where
    if as_json:
        out.print_json(found)
        return
    out.console().print(run_report(found, where))


def run_report(found: dict[str, Any], where: str) -> Group:
    kind = "full" if found.get("full") else "incremental"
    seconds = float(found.get("seconds") or 0)
    title = f"signal inference on the {where}: {kind} run, {seconds:.2f} s"
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(justify="right")
    facts.add_row("sessions re-examined", out.number(found.get("sessions")))
    facts.add_row("regenerated interactions re-examined", out.number(found.get("parents")))
    facts.add_row("edits analysed", out.number(found.get("edits_analysed")))
    parts: list[RenderableType] = [Text(title, style="bold"), facts]
    parts.append(_changes_table(found.get("inserted") or {}, found.get("retracted") or {}))
    return Group(*parts)


def _changes_table(inserted: dict[str, int], retracted: dict[str, int]) -> RenderableType:
    kinds = sorted(set(inserted) | set(retracted))
    if not kinds:
        return Text("no inferred events changed: the store already matches the rules", "dim")
    table = Table()
    table.add_column("event type")
    table.add_column("inferred", justify="right")
    table.add_column("retracted", justify="right")
    for kind in kinds:
        table.add_row(kind, out.number(inserted.get(kind, 0)), out.number(retracted.get(kind, 0)))
    table.add_row(
        Text("total", style="bold"),
        out.number(sum(inserted.values())),
        out.number(sum(retracted.values())),
    )
    return table


@app.command("status")
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The collector's scheduled job: its last run and last error (needs a collector)."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.signals_status()
        where = backend.where
    if as_json:
        out.print_json(found)
        return
    console = out.console()
    last_run = found.get("last_run")
    if last_run:
        console.print(run_report(last_run, where))
    else:
        console.print(Text(f"the {where} has not run the job since it started", style="dim"))
    if found.get("last_error"):
        console.print(Text(f"last error: {found['last_error']}", style="red"), soft_wrap=True)
