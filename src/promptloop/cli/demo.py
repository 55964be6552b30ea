"""``promptloop demo``: fill a store with SIMULATED interactions and feedback.

The generator lives in :mod:`promptloop.demo.simulate`; it is imported only when a demo
command runs, so the rest of the CLI never pays for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Annotated, Any, cast

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import open_writable_store, target_of
from promptloop.cli._errors import CliError
from promptloop.cli._options import JsonFlag
from promptloop.core.records import Interaction
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


class _Counting:
    """The store, reporting how many interactions each write carried (for the progress bar)."""

    def __init__(self, store: Store, advance: Callable[[int], None]) -> None:
        self._store = store
        self._advance = advance

    def insert_interactions(self, items: Sequence[Interaction]) -> int:
        stored = self._store.insert_interactions(items)
        self._advance(len(items))
        return stored

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def load_with_progress(store: Store, *, interactions: int, seed: int) -> dict[str, Any]:
    """Run the generator under a progress bar (on stderr) fed by its writes."""
    load_demo, _ = demo_api()
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=out.err_console(), transient=True) as progress:
        task = progress.add_task(f"simulating interactions (seed {seed})", total=interactions)
        counting = _Counting(store, lambda n: progress.advance(task, n))
        return dict(load_demo(cast(Store, counting), interactions=interactions, seed=seed))


def analyse(store: Store) -> None:
    """Infer the implicit signals and cluster the failures, so the first look finds something."""
    from promptloop.analytics.clusters import run_clustering
    from promptloop.signals.jobs import run_signals

    with out.err_console().status("inferring implicit signals and clustering failures"):
        run_signals(store, full=True)
        run_clustering(store)


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
    """Fill --store with a SIMULATED dataset of interactions and feedback.

    Loading is idempotent: running it again with the same options stores nothing new (and
    completes a load that was interrupted).
    """
    url = target_of(ctx).resolved_store_url
    store = open_writable_store(url)
    try:
        before = is_loaded(store)
        result = load_with_progress(store, interactions=interactions, seed=seed)
    finally:
        store.close()
    shown = out.redact_url(url)
    if as_json:
        out.print_json({"store": shown, "already_loaded": before, "result": result})
        return
    console = out.console()
    console.print(out.titled(f"demo data loaded into {shown}", _result_table(result)))
    if before:
        console.print(Text("the store already held demo data: only missing records were added"))
    console.print(Text("SIMULATED data: generated, not from real users.", style="bold yellow"))
    console.print(Text("Next: promptloop query versions · promptloop query negative-inputs"))


def _result_table(result: dict[str, Any]) -> Table:
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in result.items():
        cell = out.number(value) if isinstance(value, int) else out.text(value, limit=60)
        table.add_row(name.replace("_", " "), cell)
    return table
