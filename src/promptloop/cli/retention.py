"""``promptloop retention apply`` and ``promptloop users delete``: keeping only what is needed.

Both write to the store; when the collector holds it (or with ``--url``) they ask the
collector instead (``POST /v1/retention/apply``, ``DELETE /v1/users/{id}``), which flushes
its ingest buffer first so nothing acknowledged escapes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich import box
from rich.table import Table

from promptloop.cli import _output as out
from promptloop.cli._backend import open_store_for_writing, target_of
from promptloop.cli._errors import usage_error
from promptloop.cli._options import JsonFlag
from promptloop.cli.export import _Collector, collector_for, fallback_collector
from promptloop.exceptions import StoreLockedError
from promptloop.sdk.config import promptloop_home
from promptloop.sdk.hashing import UserHasher, is_hashed
from promptloop.store.base import Store
from promptloop.store.retention import apply_retention, delete_user, parse_rules

retention_app = typer.Typer(
    help="Delete rows older than each table's retention.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
users_app = typer.Typer(
    help="Delete everything stored about one user.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

DryRunFlag = Annotated[
    bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
]


def _store_or_collector(ctx: typer.Context) -> tuple[Store | None, _Collector | None]:
    target = target_of(ctx)
    collector = collector_for(target)
    if collector is not None:
        return None, collector
    try:
        return open_store_for_writing(target.resolved_store_url), None
    except StoreLockedError:
        return None, fallback_collector(target)


def _report(title: str, result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(result)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in sorted(result["deleted"].items()):
        table.add_row(name, str(count))
    verb = "would delete" if result.get("dry_run") else "deleted"
    out.console().print(out.titled(f"{title}: {verb} {result['total']} rows", table))


@retention_app.command("apply")
def apply(
    ctx: typer.Context,
    rules: Annotated[
        list[str] | None,
        typer.Option(
            "--rule",
            help="TABLE=DAYS, e.g. interactions=90 (repeatable). Default: PROMPTLOOP_RETENTION.",
        ),
    ] = None,
    dry_run: DryRunFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete rows older than each table's retention; interactions take their feedback,
    edit analyses and cluster memberships with them."""
    try:
        chosen = parse_rules(",".join(rules) if rules else os.environ.get("PROMPTLOOP_RETENTION"))
    except ValueError as exc:
        raise usage_error("--rule", str(exc)) from None
    if not chosen:
        raise usage_error("--rule", "no retention rules: pass --rule TABLE=DAYS")
    store, collector = _store_or_collector(ctx)
    if store is not None:
        try:
            result: dict[str, Any] = {
                "rules": chosen,
                **apply_retention(store, chosen, dry_run=dry_run).as_dict(),
            }
        finally:
            store.close()
    else:
        assert collector is not None
        try:
            result = collector.call(
                "POST", "/v1/retention/apply", body={"rules": chosen, "dry_run": dry_run}
            )
        finally:
            collector.close()
    _report("retention", result, as_json)


def _hash_key(explicit: str | None, api_key: str | None) -> str:
    """The SDK's key order: --hash-key / PROMPTLOOP_HASH_KEY, the API key, the key file."""
    if explicit:
        return explicit
    if api_key:
        return api_key
    path: Path = promptloop_home() / "hash_key"
    if path.exists():
        return path.read_text().strip()
    raise usage_error(
        "--hash-key",
        "--raw needs the key the SDK hashed user IDs with: pass --hash-key or set "
        "PROMPTLOOP_HASH_KEY",
    )


@users_app.command("delete")
def delete(
    ctx: typer.Context,
    user_id: Annotated[
        str, typer.Argument(help="The user ID as stored (hashed, u_...), or raw with --raw.")
    ],
    raw: Annotated[
        bool,
        typer.Option("--raw", help="USER_ID is the app's own ID: hash it as the SDK does first."),
    ] = False,
    hash_key: Annotated[
        str | None,
        typer.Option(
            "--hash-key",
            envvar="PROMPTLOOP_HASH_KEY",
            help="The SDK's hash key (for --raw). Default: the API key, else "
            "~/.promptloop/hash_key.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    dry_run: DryRunFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete every interaction of one user, and the feedback, edit analyses, cluster
    memberships, review and eval rows linked to them, on any backend."""
    if not user_id.strip():
        raise usage_error("USER_ID", "must not be empty")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in user_id):
        raise usage_error("USER_ID", "must not contain control characters")
    if raw:
        user_id = UserHasher(_hash_key(hash_key, target_of(ctx).api_key)).hash(user_id)
    elif not is_hashed(user_id):
        out.err_console().print(
            f"note: {user_id!r} does not look hashed (u_ + 32 hex digits); deleting it as "
            "given. Pass --raw if it is the app's own ID.",
            style="dim",
            markup=False,
        )
    if not yes and not dry_run:
        typer.confirm(f"Delete everything stored about user {user_id}?", abort=True)
    store, collector = _store_or_collector(ctx)
    if store is not None:
        try:
            result: dict[str, Any] = {
                "user_id": user_id,
                **delete_user(store, user_id, dry_run=dry_run).as_dict(),
            }
        finally:
            store.close()
    else:
        assert collector is not None
        try:
            result = collector.call(
                "DELETE",
                f"/v1/users/{quote(user_id, safe='')}",
                params={"dry_run": "true" if dry_run else "false"},
            )
        finally:
            collector.close()
    _report(f"user {user_id}", result, as_json)
