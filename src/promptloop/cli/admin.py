"""``promptloop stats`` and ``promptloop migrate``: the state of the store."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_backend, open_writable_store, target_of
from promptloop.cli._options import JsonFlag


def stats(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Row counts and schema version; the collector's ingest counters when asking one."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.stats()
        where = backend.where
    if as_json:
        out.print_json(found)
        return
    out.console().print(out.titled(where, _stats_table(found)))


def _stats_table(found: dict[str, Any]) -> Table:
    table = Table(show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right")
    for label, value in _flatten(found):
        cell = out.number(value) if isinstance(value, int) else out.text(value)
        table.add_row(label, cell)
    return table


def _flatten(found: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"ingest": {"accepted": {"feedback": 3}}}`` -> ``("ingest accepted feedback", 3)``."""
    rows: list[tuple[str, Any]] = []
    for name, value in found.items():
        label = f"{prefix}{name.replace('_', ' ')}"
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{label} "))
        else:
            rows.append((label, value))
    return rows


def migrate(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Apply pending schema migrations to --store and print the schema version."""
    url = target_of(ctx).resolved_store_url
    store = open_writable_store(url, migrate=False)
    try:
        before = store.schema_version()
        with out.err_console().status("applying migrations"):
            after = store.migrate()
    finally:
        store.close()
    shown = out.redact_url(url)
    if as_json:
        out.print_json({"store": shown, "schema_version": after, "previous_version": before})
        return
    change = f"migrated from {before} to {after}" if after != before else "already up to date"
    out.console().print(Text(f"{shown}: schema version {after} ({change})"), soft_wrap=True)
