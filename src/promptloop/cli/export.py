"""``promptloop export``: interactions and feedback to Parquet or CSV, feedback to Phoenix
span annotations or Langfuse scores, with the explorer's filters.

Reads the store directly (read-only), or downloads from the collector's
``GET /v1/exports/{kind}`` when ``--url`` is given or the collector holds the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from promptloop.analytics.queries import InteractionFilter
from promptloop.cli import _output as out
from promptloop.cli._backend import (
    FALLBACK_URL,
    RemoteBackend,
    Target,
    check_url,
    collector_answers,
    open_local_store,
    target_of,
)
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
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
from promptloop.exceptions import ClientError, StoreLockedError
from promptloop.exports import (
    AnnotationExport,
    Kind,
    count_rows,
    langfuse_scores,
    phoenix_annotations,
    write_csv,
    write_parquet,
    write_records,
)
from promptloop.store.base import Store


class ExportKind(StrEnum):
    interactions = "interactions"
    feedback = "feedback"
    phoenix = "phoenix"
    langfuse = "langfuse"


class ExportFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"
    jsonl = "jsonl"
    json = "json"


_TABLE_FORMATS = (ExportFormat.parquet, ExportFormat.csv)
_ANNOTATION_FORMATS = (ExportFormat.jsonl, ExportFormat.json)


def _format_for(kind: ExportKind, chosen: ExportFormat | None, output: Path) -> ExportFormat:
    table = kind in (ExportKind.interactions, ExportKind.feedback)
    allowed = _TABLE_FORMATS if table else _ANNOTATION_FORMATS
    if chosen is None:
        suffix = output.suffix.lower().lstrip(".")
        known = {fmt.value: fmt for fmt in ExportFormat}
        chosen = known.get(suffix, allowed[0])
    if chosen not in allowed:
        raise usage_error(
            "--format",
            f"{kind.value} exports come as {' or '.join(f.value for f in allowed)}, "
            f"not {chosen.value}",
        )
    return chosen


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Any]:
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=out.err_console(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda rows: progress.advance(task, rows)


def export_local(
    store: Store,
    kind: ExportKind,
    fmt: ExportFormat,
    output: Path,
    filters: InteractionFilter,
) -> dict[str, Any]:
    """Write the export from an open store; return what was written."""
    table_kind: Kind = "interactions" if kind is ExportKind.interactions else "feedback"
    total = count_rows(store, table_kind, filters)
    result: dict[str, Any] = {"kind": kind.value, "format": fmt.value, "path": str(output)}
    with _progress(f"exporting {kind.value}", total) as advance:
        if fmt is ExportFormat.parquet:
            result["rows"] = write_parquet(store, output, table_kind, filters, progress=advance)
        elif fmt is ExportFormat.csv:
            result["rows"] = write_csv(store, output, table_kind, filters, progress=advance)
        else:
            counts = AnnotationExport()
            make = phoenix_annotations if kind is ExportKind.phoenix else langfuse_scores
            records = (_advancing(record, advance) for record in make(store, filters, counts))
            envelope = "data" if kind is ExportKind.phoenix else None
            result["rows"] = write_records(
                records,
                output,
                "jsonl" if fmt is ExportFormat.jsonl else "json",
                envelope=envelope,
            )
            result["skipped"] = counts.skipped
    return result


def _advancing(record: dict[str, Any], advance: Any) -> dict[str, Any]:
    advance(1)
    return record


class _Collector(RemoteBackend):
    """The collector's export and deletion endpoints (the shared backend lacks them)."""

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self._request(method, path, params=params, body=body)

    def download(self, path: str, params: dict[str, Any], output: Path) -> int:
        """Stream a response body into ``output``; return the bytes written."""
        written = 0
        try:
            with self._client.stream(
                "GET", path, params=params, headers=self._headers, timeout=None
            ) as response:
                if response.is_error:
                    response.read()
                    raise self._error(response)
                with output.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                        written += len(chunk)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the collector at {self.where}: {exc}") from None
        return written


def filter_params(filters: InteractionFilter) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(filters).items()
        if value is not None
    }


def collector_for(target: Target) -> _Collector | None:
    """The collector to ask: --url, or the fallback when the collector holds the store."""
    if target.url:
        return _Collector(check_url(target.url), target.api_key)
    return None


def fallback_collector(target: Target) -> _Collector:
    if not collector_answers(FALLBACK_URL):
        raise CliError(
            f"{out.redact_url(target.resolved_store_url)} is locked by another process "
            f"(a running collector?) and no collector answers at {FALLBACK_URL}/healthz: "
            "pass --url with the address of the collector that owns the store",
            exit_code=EXIT_USAGE,
        )
    return _Collector(FALLBACK_URL, target.api_key)


def export(
    ctx: typer.Context,
    kind: Annotated[
        ExportKind,
        typer.Argument(
            help="interactions, feedback, phoenix (span annotations) or langfuse (scores)."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write.", dir_okay=False)
    ],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="parquet or csv (interactions, feedback); jsonl or json (phoenix, langfuse). "
            "Default: from the file's suffix, else parquet / jsonl.",
        ),
    ] = None,
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
    as_json: JsonFlag = False,
) -> None:
    """Export interactions or feedback (Parquet, CSV), or feedback for Phoenix or Langfuse."""
    chosen = _format_for(kind, fmt, output)
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
    if not output.parent.exists():
        raise usage_error("--output", f"the folder {output.parent} does not exist")
    target = target_of(ctx)
    collector = collector_for(target)
    store: Store | None = None
    if collector is None:
        try:
            store = open_local_store(target.resolved_store_url)
        except StoreLockedError:
            collector = fallback_collector(target)
    if store is not None:
        try:
            result = export_local(store, kind, chosen, output, filters)
        finally:
            store.close()
        where = f"store {out.redact_url(store.url)}"
    else:
        assert collector is not None
        params = {**filter_params(filters), "format": chosen.value}
        with out.err_console().status(f"downloading from the {collector.where}"):
            size = collector.download(f"/v1/exports/{kind.value}", params, output)
        collector.close()
        result = {"kind": kind.value, "format": chosen.value, "path": str(output), "bytes": size}
        where = collector.where
    if as_json:
        out.print_json(result)
        return
    amount = f"{result['rows']} rows" if "rows" in result else f"{result['bytes']} bytes"
    line = f"wrote {amount} of {kind.value} ({chosen.value}) to {output} from the {where}"
    if result.get("skipped"):
        line += f"; {result['skipped']} feedback events left out: no trace/span ID to attach to"
    out.console().print(line, soft_wrap=True, markup=False)
