"""``promptloop eval``: run prompt versions x providers over a dataset, compare, gate, promote.

Locally the work runs here on the store (opened for writing: runs are stored, and every
look at the holdout is counted); with --url, or when the store is held by a running
collector, the collector's ``/v1/evals`` API does it. Every command prints the API's JSON
shapes with --json.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote

import typer
import yaml
from rich.console import Group, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import LocalBackend, RemoteBackend, Target, connect, target_of
from promptloop.cli._errors import EXIT_FAILURE, EXIT_USAGE, CliError, usage_error
from promptloop.cli._options import JsonFlag, default_user, parse_time
from promptloop.evals import service
from promptloop.evals.planning import SPLIT_CHOICES, RunRequest
from promptloop.store.base import Store

RUN_TIMEOUT_SECONDS = 3600.0

app = typer.Typer(
    help="Evaluate prompt versions x providers on a dataset; compare runs; gate CI; promote.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# op -> (HTTP method, path, arguments that go into the path)
ROUTES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "build_dataset": ("POST", "/v1/evals/datasets", ()),
    "list_datasets": ("GET", "/v1/evals/datasets", ()),
    "show_dataset": ("GET", "/v1/evals/datasets/{dataset}", ("dataset",)),
    "export_dataset": ("GET", "/v1/evals/datasets/{dataset}/export", ("dataset",)),
    "import_dataset": ("POST", "/v1/evals/datasets/{name}/import", ("name",)),
    "decide": ("POST", "/v1/evals/items/decisions", ()),
    "run_eval": ("POST", "/v1/evals/runs", ()),
    "list_runs": ("GET", "/v1/evals/runs", ()),
    "show_run": ("GET", "/v1/evals/runs/{run}", ("run",)),
    "compare": ("GET", "/v1/evals/compare", ()),
    "gate": ("GET", "/v1/evals/gate", ()),
    "holdout_report": ("GET", "/v1/evals/holdout", ()),
    "promote_run": ("POST", "/v1/evals/runs/{run}/promote", ("run",)),
}


class EvalsBackend(Protocol):
    where: str
    local: bool

    def call(self, op: str, **arguments: Any) -> dict[str, Any]: ...

    def close(self) -> None: ...


class LocalEvals:
    """Calls :mod:`promptloop.evals.service` on an open store."""

    local = True

    def __init__(self, store: Store, where: str) -> None:
        self.store = store
        self.where = where

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        if op == "run_eval":
            progress = arguments.pop("progress", None)
            request = RunRequest(**arguments.pop("request"))
            with _usage_errors():
                return service.run_eval(self.store, request, progress=progress)
        with _usage_errors():
            found: dict[str, Any] = getattr(service, op)(self.store, **arguments)
        return found

    def close(self) -> None:
        self.store.close()


class RemoteEvals(RemoteBackend):
    """The collector's ``/v1/evals`` endpoints."""

    local = False

    def call(self, op: str, **arguments: Any) -> dict[str, Any]:
        method, path, in_path = ROUTES[op]
        arguments.pop("progress", None)
        for name in in_path:
            path = path.replace("{" + name + "}", quote(str(arguments.pop(name)), safe=""))
        if op == "run_eval":
            arguments = dict(arguments.pop("request"))
        if method == "GET":
            return self._get(path, arguments)
        timeout = RUN_TIMEOUT_SECONDS if op == "run_eval" else 30.0
        return self._post(path, arguments, timeout=timeout)


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Input the evals refuse (a bad dataset reference, an unknown assertion) is exit 2."""
    try:
        yield
    except ValueError as exc:
        raise CliError(str(exc), exit_code=EXIT_USAGE) from None


@contextmanager
def open_evals(target: Target) -> Iterator[EvalsBackend]:
    """The store opened for writing (migrated), else the collector (as other commands do)."""
    backend = connect(target, write=True)
    found: EvalsBackend
    if isinstance(backend, LocalBackend):
        found = LocalEvals(backend.store, backend.where)
    else:
        assert isinstance(backend, RemoteBackend)
        backend.close()
        found = RemoteEvals(backend.base_url, target.api_key)
    try:
        yield found
    finally:
        found.close()


# ---------------------------------------------------------------------- shared options

SplitOpt = Annotated[
    str,
    typer.Option(
        "--split", help="Which items: dev, holdout or all (the holdout is counted when used)."
    ),
]
IncludeHoldoutOpt = Annotated[
    bool,
    typer.Option(
        "--include-holdout",
        help="Also show held-out items' text (this look is logged as holdout access).",
    ),
]
_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")


def parse_since(option: str, value: str | None, *, now: datetime | None = None) -> datetime | None:
    """``14d``, ``12h``, ``2w``, ``30m`` before now, or an ISO-8601 date or datetime."""
    if value is None:
        return None
    match = _DURATION.match(value.strip().lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {
            "m": timedelta(minutes=amount),
            "h": timedelta(hours=amount),
            "d": timedelta(days=amount),
            "w": timedelta(weeks=amount),
        }[unit]
        return (now or datetime.now(UTC)) - delta
    return parse_time(option, value)


def check_split(value: str) -> str:
    if value not in SPLIT_CHOICES:
        raise usage_error("--split", f"{value!r} is not one of: {', '.join(SPLIT_CHOICES)}")
    return value


def parse_assertions(values: list[str] | None, option: str = "--assert") -> list[dict[str, Any]]:
    """``TYPE:VALUE`` (``not-contains:Zapier``) or a YAML/JSON mapping per option."""
    found: list[dict[str, Any]] = []
    for item in values or []:
        text = item.strip()
        if text.startswith("{"):
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError:
                loaded = None
            if not isinstance(loaded, dict) or "type" not in loaded:
                raise usage_error(option, f"{item!r} is not a mapping with a 'type'")
            found.append(loaded)
            continue
        kind, sep, value = text.partition(":")
        if not sep or not kind.strip() or " " in kind.strip():
            raise usage_error(
                option, f"{item!r} is not TYPE:VALUE (e.g. not-contains:Zapier) or a mapping"
            )
        found.append({"type": kind.strip(), "value": value.strip()})
    return found


@contextmanager
def run_progress(enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr fed with (done, total) cells of the matrix."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out.err_console(), transient=True) as bar:
        task = bar.add_task("evaluating", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield report


# ---------------------------------------------------------------------- eval run


@app.command("run")
def run(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset NAME or NAME@VERSION.")
    ] = None,
    prompt: Annotated[
        list[str] | None,
        typer.Option(
            "--prompt",
            "-p",
            help="A prompt: NAME@VERSION or NAME@LABEL from the registry, or a file "
            "(repeat for a matrix).",
        ),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="A provider id: openai:chat:MODEL, anthropic:messages:MODEL, echo, an "
            "http(s) URL, python:file.py:func (repeat for a matrix).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Run a promptfoo config (promptfooconfig.yaml)."),
    ] = None,
    repeat: Annotated[
        int, typer.Option(min=1, max=100, help="Calls per item, for pass and flip rates.")
    ] = 1,
    split: SplitOpt = "all",
    judge: Annotated[
        str | None,
        typer.Option("--judge", help="The judge's provider id for model-graded assertions."),
    ] = None,
    specs_dir: Annotated[
        str,
        typer.Option("--specs", help="Folder of quality specs (<feature>.yaml)."),
    ] = "specs",
    assertion: Annotated[
        list[str] | None,
        typer.Option(
            "--assert",
            help="An assertion for every item: TYPE:VALUE (not-contains:Zapier) or a YAML "
            "mapping (repeat).",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Calls in flight.")] = 8,
    description: Annotated[
        str | None, typer.Option("--description", help="What this run tests.")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir", help="Cache provider answers here (repeats always call the model)."
        ),
    ] = None,
    as_json: JsonFlag = False,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Also write JUnit XML to this file.")
    ] = None,
) -> None:
    """Evaluate prompt versions x providers on a dataset's accepted items (or a promptfoo
    config) and store the results."""
    if config is None and not dataset:
        raise usage_error("--dataset", "give a dataset, or a promptfoo config with -c")
    if config is not None and (dataset or prompt or provider):
        raise usage_error("--config", "a promptfoo config names its prompts, providers and tests")
    if config is None and not prompt:
        raise usage_error("--prompt", "give at least one prompt (NAME@VERSION or a file)")
    if config is None and not provider:
        raise usage_error("--provider", "give at least one provider (e.g. openai:chat:gpt-4o-mini)")
    request: dict[str, Any] = {
        "dataset": dataset,
        "prompts": list(prompt or []),
        "providers": list(provider or []),
        "repeat": repeat,
        "split": check_split(split),
        "judge": judge,
        "specs_dir": specs_dir,
        "assertions": parse_assertions(assertion),
        "concurrency": concurrency,
        "description": description,
        "created_by": default_user(),
    }
    with open_evals(target_of(ctx)) as backend:
        if config is not None:
            if not backend.local:
                raise usage_error("--config", "promptfoo configs run locally: drop --url")
            request["config"] = str(config)
        if cache_dir is not None and backend.local:
            request["cache_dir"] = cache_dir
        with run_progress(backend.local and not as_json) as report:
            found = backend.call("run_eval", request=request, progress=report)
        run_id = found["run"]["run_id"]
        detail = backend.call("show_run", run=run_id) if junit_xml is not None else None
    for warning in found.get("warnings") or []:
        out.err_console().print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)
    if junit_xml is not None and detail is not None:
        write_junit(junit_xml, detail)
    if as_json:
        out.print_json(found)
        return
    out.console().print(run_report(found["run"]))


def _pct(rate: Mapping[str, Any] | None) -> Text:
    if not rate or rate.get("rate") is None:
        return Text("-", style="dim")
    return out.rate(rate.get("count"), rate.get("n"))


def cells_table(cells: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in (
        "prompt",
        "provider",
        "pass rate",
        "dev",
        "holdout",
        "score",
        "flip rate",
        "errors",
        "tokens",
        "cost",
    ):
        table.add_column(name, justify="left" if name in ("prompt", "provider") else "right")
    for cell in cells:
        table.add_row(
            out.text(cell["prompt_label"], limit=40),
            out.text(cell["provider_label"] or cell["provider_id"], limit=40),
            _pct(cell["pass_rate"]),
            _pct(cell["splits"]["dev"]),
            _pct(cell["splits"]["holdout"]),
            out.number(cell["mean_score"], digits=2),
            out.number(
                None if cell["flip_rate"] is None else 100 * cell["flip_rate"], digits=1, suffix="%"
            ),
            out.number(cell["errors"]),
            out.number(cell["input_tokens"] + cell["output_tokens"]),
            out.money(cell["cost_usd"]),
        )
    return table


def run_report(run: dict[str, Any]) -> RenderableType:
    summary = run.get("summary") or {}
    dataset = f"{run['dataset']}@{run['dataset_version']}" if run.get("dataset") else "-"
    title = (
        f"eval run {run['run_id']} on {dataset}: {summary.get('items', 0)} items "
        f"({summary.get('holdout_items', 0)} held out), {summary.get('results', 0)} results"
    )
    judge = (run.get("config") or {}).get("judge")
    note = None
    if judge:
        note = (
            f"judge: {judge.get('provider')} (model {judge.get('model')}, temperature "
            f"{judge.get('temperature')}, seed {judge.get('seed')})"
        )
    return Group(
        out.titled(title, cells_table(summary.get("cells") or []), note),
        Text(f"Next: promptloop eval show {run['run_id']}  ·  promptloop eval compare A B"),
    )


def _one_line(value: Any, limit: int = 80) -> str:
    return " ".join(str(value).split())[:limit]


def write_junit(path: Path, detail: dict[str, Any]) -> None:
    """One test suite per prompt x provider, one test case per item and repeat."""
    run = detail["run"]
    suites = ET.Element("testsuites", name=f"promptloop eval {run['run_id']}")
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in detail["results"]:
        grouped.setdefault((row["prompt_label"], row["provider_id"]), []).append(row)
    for (prompt, provider), rows in grouped.items():
        failures = sum(1 for row in rows if not row["passed"])
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{prompt} x {provider}",
            tests=str(len(rows)),
            failures=str(failures),
        )
        for row in rows:
            label = "held-out item" if row.get("hidden") else (row.get("input") or "item")
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{prompt}.{provider}",
                name=f"{row['item_id']} #{row['repeat_index']}: {_one_line(label)}",
                time=f"{(row.get('latency_ms') or 0) / 1000:.3f}",
            )
            if not row["passed"]:
                failure = ET.SubElement(case, "failure", message=str(row.get("reason") or "failed"))
                failure.text = str(row.get("output") or "")
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------- list / show


@app.command("list")
def list_runs(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only runs on this dataset.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most N runs.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Eval runs, newest first."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call("list_runs", dataset=dataset, limit=limit)
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for name in ("run", "created", "dataset", "prompts", "providers", "best pass rate", "status"):
        table.add_column(name)
    for run in found["items"]:
        cells = (run.get("summary") or {}).get("cells") or []
        best = max(cells, key=lambda c: c["pass_rate"]["rate"] or 0.0, default=None)
        config = run.get("config") or {}
        table.add_row(
            out.text(run["run_id"]),
            out.when(run["created_at"]),
            out.text(f"{run['dataset']}@{run['dataset_version']}" if run.get("dataset") else None),
            out.text(", ".join(p["label"] for p in config.get("prompts") or []), limit=50),
            out.text(", ".join(p["id"] for p in config.get("providers") or []), limit=50),
            _pct(best["pass_rate"]) if best else Text("-", style="dim"),
            out.text(run["status"]),
        )
    out.console().print(out.titled(f"{len(found['items'])} eval runs", table))


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run ID (or its first 4+ characters).")],
    include_holdout: IncludeHoldoutOpt = False,
    failures: Annotated[bool, typer.Option("--failures", help="Only results that failed.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """A run's matrix and its per-item results (held-out items' text hidden)."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call("show_run", run=run_id, include_holdout=include_holdout)
    if failures:
        found["results"] = [row for row in found["results"] if not row["passed"]]
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for name in ("item", "split", "prompt", "provider", "#", "pass", "score", "reason"):
        table.add_column(name)
    for row in found["results"]:
        table.add_row(
            out.text(row["item_id"]),
            out.text(row["split"]),
            out.text(row["prompt_label"], limit=30),
            out.text(row["provider_id"], limit=30),
            out.number(row["repeat_index"]),
            Text("pass", style="green") if row["passed"] else Text("FAIL", style="red"),
            out.number(row["score"], digits=2),
            out.text("(held out)" if row.get("hidden") else row.get("reason"), limit=70),
        )
    out.console().print(Group(run_report(found["run"]), table))


# ---------------------------------------------------------------------- compare / gate


def comparison_report(found: dict[str, Any]) -> RenderableType:
    table = Table()
    for name in ("", "items", "baseline", "candidate"):
        table.add_column(name, justify="left" if not name else "right")
    table.add_row(
        Text("all"),
        out.number(found["items"]),
        _pct(found["baseline_pass_rate"]),
        _pct(found["candidate_pass_rate"]),
    )
    for split in ("dev", "holdout"):
        part = found["splits"][split]
        table.add_row(
            Text(split), out.number(part["items"]), _pct(part["baseline"]), _pct(part["candidate"])
        )
    test, scores = found["mcnemar"], found["score_difference"]
    stats = Text(
        f"fixed {found['fixed']}, broken {found['broken']}, both pass {found['both_pass']}, "
        f"both fail {found['both_fail']}; McNemar p={test['p_value']:.4g}"
        + (" (exact)" if test.get("exact") else "")
        + (
            f"; score difference {scores['mean']:+.3f} "
            f"[{scores['low']:+.3f}, {scores['high']:+.3f}] (paired bootstrap, 95%)"
            if scores.get("mean") is not None
            else ""
        )
    )
    changes = Table()
    for name in ("item", "split", "change", "baseline", "candidate", "candidate reason"):
        changes.add_column(name)
    for change in found["changes"][:50]:
        changes.add_row(
            out.text(change["item_id"]),
            out.text(change["split"]),
            Text(change["change"], style="red" if change["change"] == "broken" else "green"),
            out.number(100 * change["baseline_pass_rate"], suffix="%"),
            out.number(100 * change["candidate_pass_rate"], suffix="%"),
            out.text(
                "(held out)" if change.get("hidden") else change.get("candidate_reason"), limit=60
            ),
        )
    parts: list[RenderableType] = [
        out.titled(f"{found['baseline']} -> {found['candidate']}", table),
        stats,
    ]
    if found.get("holdout_warning"):
        parts.append(Text(f"warning: {found['holdout_warning']}", style="yellow"))
    if found["changes"]:
        parts.append(out.titled("items that changed", changes))
    return Group(*parts)


@app.command("compare")
def compare(
    ctx: typer.Context,
    baseline: Annotated[
        str, typer.Argument(help="RUN, RUN/PROMPT or RUN/PROMPT/PROVIDER: the baseline.")
    ],
    candidate: Annotated[str, typer.Argument(help="The candidate, in the same form.")],
    split: SplitOpt = "all",
    include_holdout: IncludeHoldoutOpt = False,
    as_json: JsonFlag = False,
) -> None:
    """Per-item changes between two runs (or two cells of one run), with McNemar's test on
    pass/fail and a paired bootstrap on scores."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "compare",
            baseline=baseline,
            candidate=candidate,
            split=check_split(split),
            include_holdout=include_holdout,
        )
    if as_json:
        out.print_json(found)
        return
    out.console().print(comparison_report(found))


@app.command("gate")
def gate(
    ctx: typer.Context,
    baseline: Annotated[str, typer.Option("--baseline", help="RUN[/PROMPT[/PROVIDER]].")],
    candidate: Annotated[str, typer.Option("--candidate", help="RUN[/PROMPT[/PROVIDER]].")],
    min_pass_rate: Annotated[
        float | None,
        typer.Option("--min-pass-rate", min=0.0, max=1.0, help="Fail below this pass rate (0-1)."),
    ] = None,
    alpha: Annotated[
        float, typer.Option("--alpha", min=0.0001, max=0.5, help="Significance level.")
    ] = 0.05,
    split: SplitOpt = "all",
    as_json: JsonFlag = False,
) -> None:
    """For CI: exit 1 when the candidate is significantly worse than the baseline or below
    --min-pass-rate, and say why."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "gate",
            baseline=baseline,
            candidate=candidate,
            min_pass_rate=min_pass_rate,
            alpha=alpha,
            split=check_split(split),
        )
    if as_json:
        out.print_json(found)
    else:
        out.console().print(comparison_report(found))
    for warning in found.get("warnings") or []:
        out.err_console().print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)
    if not found["passed"]:
        for reason in found["reasons"]:
            out.err_console().print(Text(f"gate failed: {reason}", style="red"), soft_wrap=True)
        raise typer.Exit(EXIT_FAILURE)
    if not as_json:
        out.console().print(Text("gate passed", style="green"))


# ---------------------------------------------------------------------- holdout / promote


@app.command("holdout")
def holdout_check(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option("--dataset", help="Only this dataset.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Development vs holdout pass rates per prompt version, with overfitting warnings and
    how often each holdout was evaluated."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call("holdout_report", dataset=dataset)
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for name in ("dataset", "prompt", "provider", "dev", "holdout", "holdout runs", "warning"):
        table.add_column(name)
    for row in found["items"]:
        table.add_row(
            out.text(row["dataset"]),
            out.text(row["prompt_label"], limit=30),
            out.text(row["provider_id"], limit=30),
            _pct(_as_rate(row["dev"])),
            _pct(_as_rate(row["holdout"])),
            out.number(row["holdout_evaluations"]),
            Text(row["warning"] or "", style="yellow"),
        )
    out.console().print(out.titled("development vs holdout", table))


def _as_rate(side: Mapping[str, Any]) -> dict[str, Any]:
    return {"rate": side.get("pass_rate"), "count": side.get("passed"), "n": side.get("n")}


@app.command("promote")
def promote(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run whose prompt to promote.")],
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="The prompt label in the run (default: the best cell)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="RUN[/PROMPT[/PROVIDER]] it was compared against."),
    ] = None,
    label: Annotated[str, typer.Option("--label", help="The label to move.")] = "production",
    name: Annotated[
        str | None, typer.Option("--name", help="Registry name for a prompt file.")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="The version: checked for a registry prompt, given to a file."
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why, in your words.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Promote the prompt a run supports; the changelog records the rationale with links to
    the dataset, the runs and the failure clusters behind it."""
    with open_evals(target_of(ctx)) as backend:
        found = backend.call(
            "promote_run",
            run=run_id,
            prompt=prompt,
            baseline=baseline,
            label=label,
            name=name,
            version=version,
            note=note,
            by=default_user(),
        )
    if as_json:
        out.print_json(found)
        return
    title = f"{found['prompt_name']}@{found['version']} is now {found['label']}"
    out.console().print(out.titled(title, Text(found["rationale"])))
