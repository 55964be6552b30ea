"""``promptloop serve``: run the collector (ingest, query API, API docs) with uvicorn.

Options for collector features that this build's :class:`Settings` lacks (the browser
feedback settings, the demo chat page) are refused rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_writable_store, target_of
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
from promptloop.cli.demo import (
    DEFAULT_INTERACTIONS,
    DEFAULT_SEED,
    analyse,
    is_loaded,
    load_with_progress,
)
from promptloop.server.settings import Settings
from promptloop.store.base import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321
# What this build's collector can be told: checked once, when the CLI is imported.
SETTINGS_FIELDS = frozenset(field.name for field in dataclasses.fields(Settings))


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Store URL for the collector (default: the global --store)."),
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            help="A key clients must send as 'Authorization: Bearer KEY'; repeat for several. "
            "Default: PROMPTLOOP_API_KEYS (comma-separated); none means no authentication.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Directory for the write-ahead log [default: PROMPTLOOP_DATA_DIR or .promptloop]."
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Load SIMULATED demo data first (if the store has none).")
    ] = False,
    demo_interactions: Annotated[
        int, typer.Option(min=1, help="How many interactions --demo simulates.")
    ] = DEFAULT_INTERACTIONS,
    signals_interval: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds between runs of the implicit-signal inference job; 0 turns the "
            "schedule off [default: 60].",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            help="An origin (scheme://host[:port], or *) whose pages may post browser "
            "feedback; repeat for several [default: PROMPTLOOP_CORS_ORIGINS].",
        ),
    ] = None,
    feedback_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--feedback-secret",
            help="A secret that signs browser feedback tokens; repeat for several "
            "[default: PROMPTLOOP_FEEDBACK_SECRET].",
        ),
    ] = None,
) -> None:
    """Run the collector: ingest API, query API, and API docs at /docs."""
    from promptloop.server.app import create_app

    store_url = store or target_of(ctx).resolved_store_url
    settings = _settings(
        store_url,
        api_key,
        data_dir,
        demo=demo,
        signals_interval=signals_interval,
        cors_origins=_check_origins(cors_origin),
        feedback_secrets=feedback_secret,
    )
    opened = open_writable_store(store_url)
    try:
        base = f"http://{_display_host(host)}:{port}"
        if demo:
            if not is_loaded(opened):
                load_with_progress(opened, interactions=demo_interactions, seed=DEFAULT_SEED)
                analyse(opened)
            chat = f"{base}/demo" if _field(settings, "demo_enabled") else None
            panel = demo_panel(base, opened, auth=bool(settings.api_keys), chat_url=chat)
            out.console().print(panel)
        else:
            out.console().print(_banner(base, store_url, auth=bool(settings.api_keys)))
        run_server(create_app(settings, store=opened), host, port)
    finally:
        opened.close()


def run_server(app: Any, host: str, port: int) -> None:
    """Serve until interrupted. Tests replace this to check the wiring without a server."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")


def _settings(
    store_url: str,
    api_keys: list[str] | None,
    data_dir: Path | None,
    *,
    demo: bool = False,
    signals_interval: float | None = None,
    cors_origins: list[str] | None = None,
    feedback_secrets: list[str] | None = None,
) -> Settings:
    given: dict[str, Any] = {"store_url": store_url}
    if api_keys:
        given["api_keys"] = _nonblank(api_keys)
    if data_dir is not None:
        given["data_dir"] = data_dir
    if signals_interval is not None:
        given["signals_interval"] = signals_interval
    if demo and "demo_enabled" in SETTINGS_FIELDS:
        given["demo_enabled"] = True
    for name, option, values in (
        ("cors_origins", "--cors-origin", cors_origins),
        ("feedback_secrets", "--feedback-secret", feedback_secrets),
    ):
        if values:
            given[_supported(name, option)] = _nonblank(values)
    try:
        return Settings(**given)
    except ValueError as exc:  # a setting from the environment (PROMPTLOOP_*) that is wrong
        raise CliError(f"invalid setting: {exc}", exit_code=EXIT_USAGE) from exc


def _nonblank(values: list[str]) -> frozenset[str]:
    return frozenset(value.strip() for value in values if value.strip())


def _supported(name: str, option: str) -> str:
    if name not in SETTINGS_FIELDS:
        raise usage_error(option, f"this collector has no {name} setting (upgrade promptloop)")
    return name


def _field(settings: Settings, name: str) -> Any:
    return getattr(settings, name, None)


def _check_origins(origins: list[str] | None) -> list[str] | None:
    return [_origin(origin) for origin in origins] if origins else None


def _origin(value: str) -> str:
    """``*`` or ``scheme://host[:port]`` with no path: what a browser sends as Origin."""
    origin = value.strip().rstrip("/")
    parts = urlsplit(origin)
    bare = not (parts.path or parts.query or parts.fragment)
    if origin == "*" or (parts.scheme in ("http", "https") and parts.hostname and bare):
        return origin
    raise usage_error("--cors-origin", f"{value!r} is not * or scheme://host[:port] (no path)")


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _banner(base: str, store_url: str, *, auth: bool) -> Text:
    state = "API keys required" if auth else "no authentication"
    shown = out.redact_url(store_url)
    return Text(f"promptloop collector on {base} (API docs {base}/docs; store {shown}; {state})")


def _latest_version(store: Store) -> str:
    rows = store.fetch_all(
        "SELECT prompt_version FROM llm_interaction_logs WHERE prompt_version IS NOT NULL "
        "ORDER BY timestamp DESC LIMIT 1"
    )
    return str(rows[0]["prompt_version"]) if rows else "VERSION"


def demo_panel(base: str, store: Store, *, auth: bool, chat_url: str | None = None) -> Panel:
    """What the demo is, where to look, and what to try."""
    header = ' -H "Authorization: Bearer $PROMPTLOOP_API_KEY"' if auth else ""
    cli = f"promptloop --url {base}" + (" --api-key $PROMPTLOOP_API_KEY" if auth else "")
    version = _latest_version(store)
    lines = [
        Text(
            "This store holds SIMULATED data: generated interactions and feedback,", "bold yellow"
        ),
        Text(
            "not from real users. Use it to learn the loop, not to draw conclusions.", "bold yellow"
        ),
        Text(""),
        Text("Where to look", style="bold"),
        *_chat_lines(chat_url),
        Text(f"  API docs (try every endpoint): {base}/docs"),
        Text(f"  health check:                  {base}/healthz"),
        Text(""),
        Text("With curl", style="bold"),
        Text(f"  curl -s{header} '{base}/v1/queries/negative-inputs?days=14'"),
        Text(f"  curl -s{header} '{base}/v1/queries/version-summary'"),
        Text(f"  curl -s{header} '{base}/v1/interactions?feedback_type=thumbs_down&limit=5'"),
        Text(""),
        Text("With the CLI (another terminal)", style="bold"),
        Text(f"  {cli} query negative-inputs --days 14"),
        Text(f"  {cli} query versions"),
        Text(f"  {cli} query regenerated-inputs --prompt-version {version}"),
        Text(f"  {cli} interactions list --feedback-type thumbs_down"),
        Text(f"  {cli} interactions show ID"),
        Text(""),
        Text("What to try", style="bold"),
        Text("  1. `query versions`: which prompt version has fewer thumbs-down and"),
        Text("     regenerations? Read the response rate before trusting explicit rates."),
        Text("  2. `query negative-inputs`: the inputs users flag most; open one with"),
        Text("     `interactions show ID` and read its output and feedback."),
        Text("  3. `query regenerated-inputs`: what users retry on the newest version."),
    ]
    return Panel(Group(*lines), title="promptloop demo: SIMULATED data", title_align="left")


def _chat_lines(chat_url: str | None) -> list[Text]:
    if chat_url is None:
        return []
    return [Text(f"  demo chat (click through):     {chat_url}", style="bold")]
