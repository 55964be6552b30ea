"""``promptloop sql``: one read-only statement against the local store.

Three layers keep it read-only: :func:`check_read_only` accepts a single SELECT, WITH,
EXPLAIN, DESCRIBE, SHOW or SUMMARIZE statement and no write keyword outside literals; DuckDB
is opened read-only; PostgreSQL rolls back every read. For real isolation on a shared
database, use a role that can only read.
"""

from __future__ import annotations

import csv
import re
import sys
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_local_store, target_of
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
from promptloop.cli._options import JsonFlag
from promptloop.exceptions import StoreLockedError

READ_STATEMENTS = frozenset({"SELECT", "WITH", "EXPLAIN", "DESCRIBE", "SHOW", "SUMMARIZE"})
# Words that make an otherwise read-only statement write: data-modifying CTEs, EXPLAIN
# ANALYZE of a write, SELECT ... INTO a new table, row locks. Statements that start with any
# other verb are refused by the first-word check.
WRITE_KEYWORDS = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "TRUNCATE", "INTO",
        "CREATE", "ALTER", "DROP", "COPY", "ATTACH", "DETACH", "GRANT", "REVOKE",
        "CALL", "EXECUTE", "PREPARE", "LOCK",
    }
)  # fmt: skip

# Comments, string literals, quoted identifiers and dollar-quoted bodies: not SQL keywords.
_INERT = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_]*\$).*?\1",
    re.DOTALL,
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_read_only(statement: str) -> str:
    """The statement, if it is one read-only statement; otherwise a usage error (exit 2)."""
    code = _INERT.sub(" ", statement)
    if "'" in code or '"' in code or "/*" in code:
        raise usage_error("STATEMENT", "unterminated quote or comment")
    parts = [part for part in code.split(";") if part.strip()]
    if len(parts) != 1:
        raise usage_error("STATEMENT", "give exactly one statement")
    words = [word.upper() for word in _WORD.findall(parts[0])]
    if not words or words[0] not in READ_STATEMENTS:
        allowed = ", ".join(sorted(READ_STATEMENTS))
        raise usage_error("STATEMENT", f"only read-only statements are allowed ({allowed})")
    writes = sorted(set(words) & WRITE_KEYWORDS)
    if writes:
        raise usage_error(
            "STATEMENT",
            f"only read-only statements are allowed; found {', '.join(writes)} "
            '(quote an identifier with "double quotes" if it is a column name)',
        )
    return statement.strip().rstrip(";").strip()


def sql(
    ctx: typer.Context,
    statement: Annotated[str, typer.Argument(help="One SELECT/WITH/EXPLAIN/... statement.")],
    as_json: JsonFlag = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
) -> None:
    """Run one read-only SQL statement against the local store (not through --url).

    Tables: llm_interaction_logs, feedback_events.
    """
    if as_json and as_csv:
        raise usage_error("--csv", "give --json or --csv, not both")
    target = target_of(ctx)
    if target.url:
        raise usage_error("--url", "sql reads the local store only: drop --url, use --store")
    checked = check_read_only(statement)
    rows = _run(target.resolved_store_url, checked)
    if as_json:
        out.print_json(rows)
    elif as_csv:
        _print_csv(rows)
    else:
        out.console().print(_rows_table(rows))


def _run(store_url: str, statement: str) -> list[dict[str, Any]]:
    try:
        store = open_local_store(store_url)
    except StoreLockedError:
        raise CliError(
            f"{out.redact_url(store_url)} is held by a running collector; sql needs the store "
            "itself: stop the collector, or use `promptloop query ...` with --url",
            exit_code=EXIT_USAGE,
        ) from None
    try:
        return store.fetch_all(statement)
    finally:
        store.close()


def _print_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_cell(value) for key, value in row.items()})


def _csv_cell(value: Any) -> Any:
    shown = out.jsonable(value)
    if isinstance(shown, dict | list):
        return out.json_text(shown)
    return shown


def _rows_table(rows: list[dict[str, Any]]) -> RenderableType:
    if not rows:
        return Text("(no rows)", style="dim")
    table = Table()
    for name in rows[0]:
        table.add_column(Text(name))
    for row in rows:
        table.add_row(*(out.text(value, limit=60) for value in row.values()))
    return out.titled(f"{len(rows)} rows", table)
