"""``promptloop serve``: run the collector (ingest, query API, API docs) with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_writable_store, target_of
from promptloop.cli.demo import DEFAULT_INTERACTIONS, DEFAULT_SEED, is_loaded, load_with_progress
from promptloop.server.settings import Settings
from promptloop.store.base import Store

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321


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
) -> None:
    """Run the collector: ingest API, query API, and API docs at /docs."""
    from promptloop.server.app import create_app

    store_url = store or target_of(ctx).resolved_store_url
    settings = _settings(store_url, api_key, data_dir)
    opened = open_writable_store(store_url)
    try:
        base = f"http://{_display_host(host)}:{port}"
        if demo:
            if not is_loaded(opened):
                load_with_progress(opened, interactions=demo_interactions, seed=DEFAULT_SEED)
            out.console().print(demo_panel(base, opened, auth=bool(settings.api_keys)))
        else:
            out.console().print(_banner(base, store_url, auth=bool(settings.api_keys)))
        run_server(create_app(settings, store=opened), host, port)
    finally:
        opened.close()


def run_server(app: Any, host: str, port: int) -> None:
    """Serve until interrupted. Tests replace this to check the wiring without a server."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")


def _settings(store_url: str, api_keys: list[str] | None, data_dir: Path | None) -> Settings:
    given: dict[str, Any] = {"store_url": store_url}
    if api_keys:
        given["api_keys"] = frozenset(key.strip() for key in api_keys if key.strip())
    if data_dir is not None:
        given["data_dir"] = data_dir
    return Settings(**given)


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


def demo_panel(base: str, store: Store, *, auth: bool) -> Panel:
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
