"""``promptloop demo``: fill a store with SIMULATED interactions and feedback.

The generator lives in :mod:`promptloop.demo.simulate`; it is imported only when a demo
command runs, so the rest of the CLI never pays for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Annotated, Any, cast

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_writable_store, target_of
from promptloop.cli._errors import CliError
from promptloop.cli._options import JsonFlag
from promptloop.store.base import Store

DEFAULT_INTERACTIONS = 20_000
DEFAULT_SEED = 7

LoadDemo = Callable[..., dict[str, Any]]
DemoIsLoaded = Callable[[Store], bool]

app = typer.Typer(
    help="Simulated data to explore promptloop before instrumenting a real app.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def demo_api() -> tuple[LoadDemo, DemoIsLoaded]:
    """``load_demo`` and ``demo_is_loaded`` from :mod:`promptloop.demo.simulate`."""
    try:
        module = importlib.import_module("promptloop.demo.simulate")
        return cast(LoadDemo, module.load_demo), cast(DemoIsLoaded, module.demo_is_loaded)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"the demo data generator is not available in this install: {exc}") from None


def load_with_progress(store: Store, *, interactions: int, seed: int) -> dict[str, Any]:
    """Run the generator under a spinner with elapsed time (on stderr)."""
    load_demo, _ = demo_api()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=out.err_console(), transient=True) as progress:
        progress.add_task(f"simulating {interactions:,} interactions (seed {seed})", total=None)
        return dict(load_demo(store, interactions=interactions, seed=seed))


def is_loaded(store: Store) -> bool:
    _, demo_is_loaded = demo_api()
    return bool(demo_is_loaded(store))


@app.command("load")
def load(
    ctx: typer.Context,
    interactions: Annotated[
        int, typer.Option(min=1, help="How many interactions to simulate.")
    ] = DEFAULT_INTERACTIONS,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed, the same data.")
    ] = DEFAULT_SEED,
    as_json: JsonFlag = False,
) -> None:
    """Fill --store with a SIMULATED dataset (skipped when it already has one)."""
    url = target_of(ctx).resolved_store_url
    store = open_writable_store(url)
    try:
        loaded = is_loaded(store)
        result = {} if loaded else load_with_progress(store, interactions=interactions, seed=seed)
    finally:
        store.close()
    shown = out.redact_url(url)
    if as_json:
        out.print_json({"store": shown, "already_loaded": loaded, "result": result})
        return
    console = out.console()
    if loaded:
        console.print(Text(f"{shown} already holds the demo data: nothing to do"), soft_wrap=True)
        return
    console.print(_result_table(result, shown))
    console.print(Text("SIMULATED data: generated, not from real users.", style="bold yellow"))
    console.print(Text("Next: promptloop query versions · promptloop query negative-inputs"))


def _result_table(result: dict[str, Any], where: str) -> Table:
    table = Table(title=f"demo data loaded into {where}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in result.items():
        cell = out.number(value) if isinstance(value, int) else out.text(value, limit=60)
        table.add_row(name.replace("_", " "), cell)
    return table
