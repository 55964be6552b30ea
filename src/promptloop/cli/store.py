"""``promptloop store copy SRC DST``: move all data between backends, resumably, verified."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_writable_store
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
from promptloop.cli._options import JsonFlag
from promptloop.exceptions import ConfigError
from promptloop.store.base import Store
from promptloop.store.copy import DEFAULT_BATCH_SIZE, CopyReport, copy_store

app = typer.Typer(no_args_is_help=True, help="Whole-store operations: copy between backends.")


def _default_checkpoint(source: str, destination: str) -> Path:
    digest = hashlib.sha256(f"{source}\n{destination}".encode()).hexdigest()[:12]
    return Path(".promptloop") / f"copy-{digest}.json"


@app.command("copy")
def copy(
    src: Annotated[str, typer.Argument(help="Store URL to copy from (duckdb:///..., ...).")],
    dst: Annotated[str, typer.Argument(help="Store URL to copy into; migrated first.")],
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Rows per page read and written.")
    ] = DEFAULT_BATCH_SIZE,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint", help="Progress file to resume from (default: .promptloop/copy-*.json)."
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore the checkpoint and start from the beginning.")
    ] = False,
    max_batches: Annotated[
        int | None,
        typer.Option("--max-batches", help="Stop after this many pages; run again to resume."),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option("--verify/--no-verify", help="Compare counts and checksums per table."),
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Copy every table from SRC to DST in key order, with progress; resumable and verified.

    Rows DST already has are skipped, so running it again after an interruption copies
    nothing twice. Exits 1 when a table's count or checksum differs between the two stores.
    """
    if batch_size < 1:
        raise usage_error("--batch-size", "must be at least 1")
    if max_batches is not None and max_batches < 1:
        raise usage_error("--max-batches", "must be at least 1")
    path = checkpoint or _default_checkpoint(src, dst)
    if restart and path.exists():
        path.unlink()
    source = _open("SRC", src, migrate=False)
    try:
        destination = _open("DST", dst, migrate=True)
        try:
            report = _run(source, destination, path, batch_size, max_batches, verify, quiet=as_json)
        except ConfigError as exc:  # a checkpoint of another copy: named in the message
            raise CliError(str(exc), exit_code=EXIT_USAGE) from None
        finally:
            destination.close()
    finally:
        source.close()
    if as_json:
        out.print_json(_report_json(report, path))
    else:
        out.console().print(_report_table(report, path))
    if report.mismatches:
        names = ", ".join(result.table for result in report.mismatches)
        raise CliError(f"the copy differs from the source in: {names}")


def _open(argument: str, url: str, *, migrate: bool) -> Store:
    try:
        return open_writable_store(url, migrate=migrate)
    except ConfigError as exc:
        raise usage_error(argument, str(exc)) from None


def _run(
    src: Store,
    dst: Store,
    path: Path,
    batch_size: int,
    max_batches: int | None,
    verify: bool,
    *,
    quiet: bool,
) -> CopyReport:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out.err_console(),
        disable=quiet,
        transient=False,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def step(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=total)
            progress.update(tasks[table], completed=done, total=total)

        return copy_store(
            src,
            dst,
            checkpoint_path=path,
            batch_size=batch_size,
            max_batches=max_batches,
            verify=verify,
            progress=step,
        )


def _report_json(report: CopyReport, path: Path) -> dict[str, object]:
    return {
        "complete": report.complete,
        "verified": report.verified,
        "checkpoint": str(path),
        "tables": [
            {
                "table": result.table,
                "copied": result.copied,
                "read": result.read,
                "source_rows": result.source_rows,
                "destination_rows": result.destination_rows,
                "source_checksum": result.source_checksum,
                "destination_checksum": result.destination_checksum,
                "matches": result.matches,
            }
            for result in report.tables
        ],
    }


def _report_table(report: CopyReport, path: Path) -> Table:
    state = "complete" if report.complete else f"stopped early (resume from {path})"
    table = Table(title=f"store copy: {state}", title_justify="left")
    for name in ("table", "copied", "source rows", "copy rows", "checksum"):
        table.add_column(name, justify="left" if name == "table" else "right")
    for result in report.tables:
        verdict = (
            Text("not verified", style="dim")
            if result.matches is None
            else Text("match", style="green")
            if result.matches
            else Text("DIFFERS", style="red")
        )
        table.add_row(
            result.table,
            out.number(result.copied),
            out.number(result.source_rows) if result.source_rows is not None else Text(""),
            out.number(result.destination_rows)
            if result.destination_rows is not None
            else Text(""),
            verdict,
        )
    return table
