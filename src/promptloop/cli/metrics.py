"""``promptloop metrics`` and ``promptloop compare``: rates with intervals, and verdicts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from promptloop.analytics.compare import DEFAULT_RATES
from promptloop.analytics.metrics import ALL_RATES, SLICE_COLUMNS
from promptloop.cli import _output as out
from promptloop.cli._backend import CompareRequest, MetricsRequest, open_backend, target_of
from promptloop.cli._errors import usage_error
from promptloop.cli._options import (
    FeatureOpt,
    JsonFlag,
    PromptNameOpt,
    PromptVersionOpt,
    interaction_filter,
    parse_time,
)

HEADLINE = ("regeneration", "thumbs_down", "edit", "copy_without_edit", "abandonment", "follow_up")
_VERDICT_STYLE = {
    "better": "green",
    "worse": "red",
    "insufficient": "yellow",
    "no_difference": "dim",
}


def _interval(rate: dict[str, Any]) -> Text:
    if rate.get("rate") is None:
        return Text("-", style="dim")
    return Text(f"{100 * rate['rate']:.1f}% [{100 * rate['low']:.0f}-{100 * rate['high']:.0f}]")


def _slice_label(row: dict[str, Any], keys: list[str]) -> str:
    return " · ".join(str(out.jsonable(row.get(key)) or "-") for key in keys)


def metrics(
    ctx: typer.Context,
    feature: FeatureOpt = None,
    prompt_name: PromptNameOpt = None,
    prompt_version: PromptVersionOpt = None,
    by: Annotated[
        str,
        typer.Option(help=f"Slice by these columns, comma-separated: {', '.join(SLICE_COLUMNS)}."),
    ] = "feature,prompt_version",
    variant_key: Annotated[
        str | None, typer.Option("--variant-key", help="Also slice by this metadata key.")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="Also slice by time: hour, day or week (UTC).")
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Only the last N days (default: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rates per slice, each with its denominator and 95% Wilson interval.

    Explicit rates (thumbs) are shown with the response rate: explicit feedback is a biased
    sample. The quality score (0-100) weights implicit signals above explicit ones.
    """
    if bucket not in (None, "hour", "day", "week"):
        raise usage_error("--bucket", "must be hour, day or week")
    request = MetricsRequest(
        by=tuple(part.strip() for part in by.split(",") if part.strip()),
        variant_key=variant_key,
        bucket=_bucket(bucket),
        days=days,
    )
    unknown = set(request.by) - set(SLICE_COLUMNS)
    if unknown:
        raise usage_error("--by", f"unknown column(s) {', '.join(sorted(unknown))}")
    filters = interaction_filter(
        feature=feature, prompt_name=prompt_name, prompt_version=prompt_version
    )
    with open_backend(target_of(ctx)) as backend:
        found = backend.metrics(filters, request)
    if as_json:
        out.print_json(found)
        return
    keys = [*request.by, *(["variant"] if variant_key else []), *(["bucket"] if bucket else [])]
    table = Table()
    table.add_column(" · ".join(keys) or "all")
    table.add_column("n", justify="right")
    for name in HEADLINE:
        table.add_column(name.replace("_", " "), justify="right")
    table.add_column("response", justify="right")
    table.add_column("quality", justify="right")
    for row in found["items"]:
        table.add_row(
            _slice_label(row, keys),
            out.number(row.get("interactions")),
            *(_interval(row["rates"][name]) for name in HEADLINE),
            _interval(row["rates"]["response"]),
            out.number(row.get("quality_score"), digits=1),
        )
    note = (
        "rate [95% interval] over all interactions of the slice; response = share with "
        "explicit feedback; quality = composite score (docs/metrics.md)"
    )
    out.console().print(out.titled("Rates per slice", table, note))


def _bucket(value: str | None) -> Literal["hour", "day", "week"] | None:
    if value == "hour":
        return "hour"
    if value == "day":
        return "day"
    return "week" if value == "week" else None


def compare_versions(
    ctx: typer.Context,
    feature: Annotated[str, typer.Option("--feature", help="The feature to compare on.")],
    versions: Annotated[
        str | None, typer.Option(help="Comma-separated prompt versions (default: all).")
    ] = None,
    variant_key: Annotated[
        str | None,
        typer.Option("--variant-key", help="Compare values of this metadata key instead."),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="The group to compare against (default: the oldest).")
    ] = None,
    rate: Annotated[
        list[str] | None,
        typer.Option("--rate", help=f"A rate to compare (repeatable): {', '.join(ALL_RATES)}."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 start (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601 end (exclusive).")] = None,
    all_traffic: Annotated[
        bool,
        typer.Option("--all-traffic", help="Do not bound versions by their production windows."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compare prompt versions (or A/B variants) of one feature, with a verdict per rate.

    Differences come with a 95% Newcombe interval and a two-proportion z-test; with several
    tests, p-values are Holm-adjusted. "Not enough data" says how many more are needed.
    """
    unknown = set(rate or ()) - set(ALL_RATES)
    if unknown:
        raise usage_error("--rate", f"unknown rate(s) {', '.join(sorted(unknown))}")
    request = CompareRequest(
        feature=feature,
        versions=[v.strip() for v in versions.split(",") if v.strip()] if versions else None,
        variant_key=variant_key,
        baseline=baseline,
        rates=tuple(rate) if rate else DEFAULT_RATES,
        since=parse_time("--since", since),
        until=parse_time("--until", until),
        bound_by_deployments=not all_traffic,
    )
    with open_backend(target_of(ctx)) as backend:
        try:
            found = backend.compare(request)
        except ValueError as exc:
            raise usage_error("--feature", str(exc)) from None
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for column in ("group", "rate", "difference", "adjusted p", "verdict"):
        table.add_column(column)
    for row in found["comparisons"]:
        low, high = row.get("low"), row.get("high")
        span = (
            "-"
            if row.get("diff") is None
            else (f"{100 * row['diff']:+.1f} pp [{100 * low:.1f}, {100 * high:.1f}]")
        )
        table.add_row(
            str(row["group"]),
            row["metric"].replace("_", " "),
            span,
            f"{row['p_adjusted']:.3g}",
            Text(row["summary"], style=_VERDICT_STYLE.get(row["verdict"], "")),
        )
    title = f"{feature}: each group against {found['baseline']} ({found['grouped_by']})"
    out.console().print(out.titled(title, table, f"p-value correction: {found['correction']}"))
