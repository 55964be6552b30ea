"""``promptloop keys create|list|revoke|rotate``: API keys with scopes (docs/security.md).

On the store (``--store``) or through a collector (``--url``, with an admin key). A key's
plaintext is printed once, by ``create`` and ``rotate``; the store keeps only its SHA-256.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import LocalBackend, RemoteBackend, connect, target_of
from promptloop.cli._errors import usage_error
from promptloop.cli._options import JsonFlag
from promptloop.store import keys as key_store

app = typer.Typer(
    no_args_is_help=True,
    help="API keys with scopes: ingest (apps), read (dashboards, BI), admin (everything).",
)

KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="The key's ID, or its name.")]


class _RemoteKeys(RemoteBackend):
    """The collector's /v1/keys endpoints."""

    def keys_request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request(method, path, body=body)


def _call(ctx: typer.Context, local: Any, method: str, path: str, body: Any = None) -> Any:
    """``local(store)`` on a local store, else ``method path`` on the collector."""
    target = target_of(ctx)
    backend = connect(target, write=True)
    try:
        if isinstance(backend, LocalBackend):
            return local(backend.store)
        assert isinstance(backend, RemoteBackend)
        remote = _RemoteKeys(backend.base_url, target.api_key)
        try:
            return remote.keys_request(method, path, body)
        finally:
            remote.close()
    finally:
        backend.close()


def _parse_scope(value: str) -> key_store.Scope:
    try:
        return key_store.parse_scope(value)
    except ValueError as exc:
        raise usage_error("--scope", str(exc).removeprefix("scope: ")) from None


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. 'checkout-app'.")],
    scope: Annotated[
        str, typer.Option("--scope", help="ingest, read or admin.", show_default=False)
    ],
    expires_in_days: Annotated[
        float | None,
        typer.Option("--expires-in-days", min=0.001, help="Expire the key after N days."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a key and print it: this is the only time it is shown."""
    chosen = _parse_scope(scope)
    expires = (
        None if expires_in_days is None else datetime.now(UTC) + timedelta(days=expires_in_days)
    )
    body = {"name": name, "scope": chosen.value, "expires_at": expires}
    try:
        created = _call(
            ctx,
            lambda store: key_store.create_key(store, name, chosen, expires_at=expires).as_dict(),
            "POST",
            "/v1/keys",
            out.jsonable_object(body),
        )
    except ValueError as exc:
        raise usage_error("NAME", str(exc).removeprefix("name: ")) from None
    if as_json:
        out.print_json(created)
        return
    console = out.console()
    console.print(Text(created["api_key"], style="bold"), soft_wrap=True)
    note = f"{created['key_id']} ({created['scope']}): store this key now, it is not shown again"
    out.err_console().print(Text(note, style="dim"), soft_wrap=True)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every key: ID, name, scope, prefix, dates and whether it works now."""
    found = _call(
        ctx,
        lambda store: {"keys": [key.as_dict() for key in key_store.list_keys(store)]},
        "GET",
        "/v1/keys",
    )
    if as_json:
        out.print_json(found)
        return
    keys = found["keys"]
    if not keys:
        out.console().print(Text("no API keys: create one with `promptloop keys create`", "dim"))
        return
    out.console().print(_table(keys))


def _table(keys: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("key id", "name", "scope", "prefix", "expires", "state"):
        table.add_column(
            column, no_wrap=column == "key id", min_width=8 if column == "name" else None
        )
    for key in keys:
        state = "active" if key["active"] else ("revoked" if key["revoked_at"] else "expired")
        table.add_row(
            key["key_id"],
            out.text(key["name"]),
            key["scope"],
            key["prefix"] + "…",
            out.when(key["expires_at"], seconds=False),
            Text(state, style="green" if key["active"] else "dim"),
        )
    return table


@app.command("revoke")
def revoke(ctx: typer.Context, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Revoke a key now: requests with it get 401 from then on."""
    found = _call(
        ctx,
        lambda store: key_store.revoke(store, key).as_dict(),
        "POST",
        f"/v1/keys/{quote(key, safe='')}/revoke",
    )
    if as_json:
        out.print_json(found)
        return
    out.console().print(Text(f"revoked {found['key_id']} ({found['name']})"), soft_wrap=True)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    key: KeyArg,
    grace_hours: Annotated[
        float,
        typer.Option(
            "--grace-hours", min=0, help="Hours the old key keeps working (0: revoke it now)."
        ),
    ] = key_store.DEFAULT_GRACE.total_seconds() / 3600,
    as_json: JsonFlag = False,
) -> None:
    """A new key with the same name and scope; the old one works until the grace ends."""

    def local(store: Any) -> dict[str, Any]:
        created, old = key_store.rotate(store, key, grace=timedelta(hours=grace_hours))
        return {"new": created.as_dict(), "old": old.as_dict()}

    found = _call(
        ctx, local, "POST", f"/v1/keys/{quote(key, safe='')}/rotate", {"grace_hours": grace_hours}
    )
    if as_json:
        out.print_json(found)
        return
    new, old = found["new"], found["old"]
    out.console().print(Text(new["api_key"], style="bold"), soft_wrap=True)
    until = old["expires_at"] or "now"
    note = (
        f"{new['key_id']} replaces {old['key_id']}, which works until {until}: "
        "store the new key now, it is not shown again"
    )
    out.err_console().print(Text(note, style="dim"), soft_wrap=True)
