"""``promptloop``: the command line over the store and the collector.

One module per command group; this one holds the root app, its global options and the
error boundary that turns failures into one line on stderr and an exit code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from promptloop.cli import admin, alerts, demo, interactions, prompts, query, serve, signals, sql
from promptloop.cli import datasets as datasets_cli
from promptloop.cli import evals as evals_cli
from promptloop.cli import export as export_cli
from promptloop.cli import keys as keys_cli
from promptloop.cli import metrics as metrics_cli
from promptloop.cli import patterns as patterns_cli
from promptloop.cli import retention as retention_cli
from promptloop.cli import review as review_cli
from promptloop.cli import store as store_cli
from promptloop.cli._backend import Target
from promptloop.cli._errors import CliError, as_cli_error
from promptloop.cli._output import err_console
from promptloop.exceptions import PromptloopError

if TYPE_CHECKING:
    from typer._click import Context


class _Root(TyperGroup):
    """The error boundary of every command."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            _report(exc)
        except PromptloopError as exc:
            _report(as_cli_error(exc))


def _report(error: CliError) -> None:
    err_console().print(Text(f"error: {error.message}", style="red"), soft_wrap=True)
    raise typer.Exit(error.exit_code)


app = typer.Typer(
    name="promptloop",
    cls=_Root,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",
)
app.add_typer(interactions.app, name="interactions")
app.add_typer(query.app, name="query")
app.add_typer(prompts.app, name="prompts")
app.add_typer(signals.app, name="signals")
app.add_typer(alerts.app, name="alerts")
app.add_typer(patterns_cli.clusters_app, name="clusters")
app.add_typer(patterns_cli.triage_app, name="triage")
app.add_typer(demo.app, name="demo")
app.add_typer(datasets_cli.app, name="dataset")
app.add_typer(evals_cli.app, name="eval")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(review_cli.app, name="review")
app.add_typer(retention_cli.retention_app, name="retention")
app.add_typer(retention_cli.users_app, name="users")
app.add_typer(store_cli.app, name="store")
app.command("serve")(serve.serve)
app.command("metrics")(metrics_cli.metrics)
app.command("compare")(metrics_cli.compare_versions)
app.command("priorities")(patterns_cli.priorities)
app.command("stats")(admin.stats)
app.command("migrate")(admin.migrate)
app.command("sql")(sql.sql)
app.command("export")(export_cli.export)


@app.callback()
def main(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="PROMPTLOOP_STORE",
            help="Store URL: duckdb:///PATH or postgresql://USER@HOST/DB "
            "[default: duckdb:///.promptloop/promptloop.duckdb]",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="PROMPTLOOP_URL",
            help="Base URL of a running collector, e.g. http://127.0.0.1:8321. "
            "When set, commands go through its HTTP API instead of the store.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="PROMPTLOOP_API_KEY",
            help="API key sent to the collector as 'Authorization: Bearer KEY'.",
        ),
    ] = None,
) -> None:
    """Query LLM interactions and their feedback, version prompts, run the collector.

    Commands go to the collector when --url (PROMPTLOOP_URL) is given, else to the store
    named by --store (PROMPTLOOP_STORE).
    """
    ctx.obj = Target(store_url=store, url=url, api_key=api_key)


def run() -> None:
    """The ``promptloop`` console script."""
    app(prog_name="promptloop")
