"""``promptloop query``: the questions that drive prompt changes."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_backend, target_of
from promptloop.cli._options import (
    FeatureOpt,
    JsonFlag,
    PromptNameOpt,
    PromptVersionOpt,
    interaction_filter,
)

app = typer.Typer(
    help="The questions that drive prompt changes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

DaysOpt = Annotated[int, typer.Option(min=1, max=3650, help="Look at the last N days.")]


@app.command("negative-inputs")
def negative_inputs(
    ctx: typer.Context,
    days: DaysOpt = 14,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most N inputs.")] = 20,
    feature: FeatureOpt = None,
    prompt_version: PromptVersionOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """The most common inputs that received negative feedback in the last N days.

    Negative: thumbs-down, a report, a correction, or a rating of 2 or less. Inputs are
    grouped ignoring case and surrounding whitespace.
    """
    with open_backend(target_of(ctx)) as backend:
        found = backend.negative_inputs(
            days=days, limit=limit, feature=feature, prompt_version=prompt_version
        )
    if as_json:
        out.print_json(found)
        return
    title = f"Inputs with negative feedback, last {days} days"
    table = Table()
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("input", min_width=20)
    for name in ("interactions", "events", "versions"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("last feedback", no_wrap=True)
    for rank, row in enumerate(found["items"], start=1):
        table.add_row(
            str(rank),
            out.text(row.get("example_input"), limit=80),
            out.number(row.get("interactions")),
            out.number(row.get("negative_events")),
            out.number(row.get("prompt_versions")),
            out.when(row.get("last_feedback_at")),
        )
    note = (
        "interactions: with negative feedback · events: negative feedback events · "
        "versions: prompt versions among them"
    )
    out.console().print(out.titled(title, table, note))


@app.command("regenerated-inputs")
def regenerated_inputs(
    ctx: typer.Context,
    prompt_version: Annotated[
        str, typer.Option("--prompt-version", help="The prompt version to look at (required).")
    ],
    days: DaysOpt = 14,
    min_count: Annotated[
        int, typer.Option(min=1, help="Only inputs regenerated at least N times.")
    ] = 2,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most N inputs.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Inputs that triggered regeneration more than once for one prompt version."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.regenerated_inputs(
            prompt_version=prompt_version, days=days, min_count=min_count, limit=limit
        )
    if as_json:
        out.print_json(found)
        return
    title = (
        f"Inputs regenerated {min_count}+ times, prompt version {prompt_version}, last {days} days"
    )
    table = Table()
    table.add_column("input")
    table.add_column("regenerations", justify="right")
    for row in found["items"]:
        table.add_row(
            out.text(row.get("user_input"), limit=100), out.number(row.get("regeneration_count"))
        )
    out.console().print(out.titled(title, table))


@app.command("versions")
def versions(
    ctx: typer.Context,
    feature: FeatureOpt = None,
    prompt_name: PromptNameOpt = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Only the last N days (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Per prompt version: volume, feedback rates, latency, tokens and cost.

    Each rate is the share of the version's interactions with at least one such event; the
    count and the denominator are printed next to it.
    """
    filters = interaction_filter(feature=feature, prompt_name=prompt_name)
    with open_backend(target_of(ctx)) as backend:
        found = backend.version_summary(filters, days=days)
    if as_json:
        out.print_json(found)
        return
    console = out.console()
    if not found["items"]:
        console.print(Text("no interactions match", style="dim"))
    for (feature_name, prompt), rows in groupby(found["items"], key=_prompt_key):
        title = f"feature {feature_name} · prompt {prompt}"
        console.print(out.titled(title, _versions_table(list(rows)), _RATE_NOTE))


def _prompt_key(row: dict[str, Any]) -> tuple[str, str]:
    return (row.get("feature") or "-", row.get("prompt_name") or "-")


def _rate(flag: str) -> Callable[[dict[str, Any]], Text]:
    return lambda row: out.rate(row.get(flag), row.get("interactions"))


_RATE_NOTE = (
    "rate = share of the version's interactions with at least one such event "
    "(count/interactions); response rate = share with any explicit feedback"
)

_METRICS: tuple[tuple[str, Callable[[dict[str, Any]], Text]], ...] = (
    ("interactions", lambda row: out.number(row.get("interactions"))),
    ("first seen", lambda row: out.when(row.get("first_seen"))),
    ("last seen", lambda row: out.when(row.get("last_seen"))),
    ("thumbs up", _rate("thumbs_up")),
    ("thumbs down", _rate("thumbs_down")),
    ("negative (any)", _rate("negative")),
    ("regenerated", _rate("regenerated")),
    ("edited", _rate("edited")),
    ("copied", _rate("copied")),
    ("copied, no edit", _rate("copied_unedited")),
    ("abandoned", _rate("abandoned")),
    ("followed up", _rate("followed_up")),
    ("response rate", _rate("responded")),
    ("errors", _rate("errors")),
    ("mean latency", lambda row: out.number(row.get("mean_latency_ms"), suffix=" ms")),
    ("mean input tokens", lambda row: out.number(row.get("mean_input_tokens"), digits=1)),
    ("mean output tokens", lambda row: out.number(row.get("mean_output_tokens"), digits=1)),
    ("total cost", lambda row: out.money(row.get("total_cost_usd"))),
)


def _versions_table(rows: list[dict[str, Any]]) -> Table:
    return _metrics_table(rows, _METRICS)


def _metrics_table(
    rows: list[dict[str, Any]], metrics: tuple[tuple[str, Callable[[dict[str, Any]], Text]], ...]
) -> Table:
    """Metrics down, versions across: compare a prompt's versions side by side."""
    table = Table()
    table.add_column("version")
    for row in rows:
        table.add_column(Text(str(row.get("prompt_version") or "-")), justify="right")
    for label, cell in metrics:
        table.add_row(label, *(cell(row) for row in rows))
    return table


@app.command("edits")
def edits(
    ctx: typer.Context,
    feature: FeatureOpt = None,
    prompt_name: PromptNameOpt = None,
    prompt_version: PromptVersionOpt = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Only the last N days (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """How users edited each version's outputs: how much, and in which direction.

    Edits are analysed by the inference job (`promptloop signals run`, or the collector's
    schedule); edits it has not seen yet are not counted.
    """
    filters = interaction_filter(
        feature=feature, prompt_name=prompt_name, prompt_version=prompt_version
    )
    with open_backend(target_of(ctx)) as backend:
        found = backend.edit_summary(filters, days=days)
    if as_json:
        out.print_json(found)
        return
    console = out.console()
    if not found["items"]:
        note = "no analysed edits match (edits are analysed by `promptloop signals run`)"
        console.print(Text(note, style="dim"))
    for (feature_name, prompt), rows in groupby(found["items"], key=_prompt_key):
        title = f"feature {feature_name} · prompt {prompt}: edits"
        console.print(out.titled(title, _metrics_table(list(rows), _EDIT_METRICS), _EDIT_NOTE))


def _ratio(value: Any) -> Text:
    return out.number(None if value is None else 100 * float(value), digits=1, suffix="%")


_EDIT_NOTE = (
    "edit distance = share of characters changed (normalised Levenshtein); "
    "length change in characters, edited minus original"
)

_EDIT_METRICS: tuple[tuple[str, Callable[[dict[str, Any]], Text]], ...] = (
    ("edits", lambda row: out.number(row.get("edits"))),
    ("edited interactions", lambda row: out.number(row.get("edited_interactions"))),
    ("mean edit distance", lambda row: _ratio(row.get("mean_edit_distance_ratio"))),
    ("mean length change", lambda row: out.number(row.get("mean_length_change"), digits=1)),
    ("mean words added", lambda row: out.number(row.get("mean_words_added"), digits=1)),
    ("mean words removed", lambda row: out.number(row.get("mean_words_removed"), digits=1)),
    ("shortened", lambda row: out.number(row.get("shortened"))),
    ("lengthened", lambda row: out.number(row.get("lengthened"))),
    ("rewritten", lambda row: out.number(row.get("rewritten"))),
    ("minor", lambda row: out.number(row.get("minor"))),
)
