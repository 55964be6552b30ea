"""``promptloop clusters`` / ``priorities`` / ``triage``: the failure patterns worth fixing.

Locally the clustering runs here, on the store opened for writing (with a progress bar);
with --url, or when the store is held by a running collector, the collector runs it. Every
command prints the API's JSON shapes with --json.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Protocol
from urllib.parse import quote

import typer
from rich.console import Group, RenderableType
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from promptloop.analytics import clusters, priority, triage
from promptloop.analytics.clusters import KINDS, SIGNALS, ClusterSettings
from promptloop.analytics.embeddings import available_embedders
from promptloop.cli import _output as out
from promptloop.cli._backend import LocalBackend, RemoteBackend, Target, connect, target_of
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
from promptloop.cli._options import FeatureOpt, JsonFlag, parse_time
from promptloop.exceptions import NotFoundError
from promptloop.store.base import Store

RUN_TIMEOUT_SECONDS = 900.0
_SPARK = "▁▂▃▄▅▆▇█"

clusters_app = typer.Typer(
    help="Failure clusters: what the negatively signalled inputs have in common.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
triage_app = typer.Typer(
    help="Triage failure patterns: prompt-fixable, model limitation or product scope.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

KindOpt = Annotated[
    str | None,
    typer.Option("--kind", help="negative (inputs with negative signals) or follow_up."),
]
ClusterIdArg = Annotated[
    str, typer.Argument(help="A cluster ID, or its first 6+ characters (from `clusters list`).")
]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="End of the window (ISO-8601) instead of now: a replay."),
]


class PatternsBackend(Protocol):
    where: str

    def run(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def assign(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def clusters(self, **filters: Any) -> dict[str, Any]: ...

    def cluster(self, cluster_id: str) -> dict[str, Any]: ...

    def priorities(self, **filters: Any) -> dict[str, Any]: ...

    def triage(self, cluster_id: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


@contextmanager
def _usage_errors() -> Iterator[None]:
    """A setting the analytics refuse is bad input (exit 2), as the API's 422."""
    try:
        yield
    except ValueError as exc:
        raise CliError(str(exc), exit_code=EXIT_USAGE) from None


class LocalPatterns:
    """Runs :mod:`promptloop.analytics.clusters` and friends on an open store."""

    def __init__(self, store: Store, where: str) -> None:
        self.store = store
        self.where = where

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        settings = ClusterSettings(**{**body, "signals": tuple(body["signals"])})
        with _usage_errors(), _progress() as report:
            found = clusters.run_clustering(self.store, settings, progress=report)
        return out.jsonable_object(found)

    def assign(self, body: dict[str, Any]) -> dict[str, Any]:
        with _usage_errors(), _progress() as report:
            found = clusters.assign_new(self.store, **body, progress=report)
        return out.jsonable_object(found)

    def clusters(self, **filters: Any) -> dict[str, Any]:
        return out.jsonable_object({"items": clusters.list_clusters(self.store, **filters)})

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        with _usage_errors():
            found = clusters.get_cluster(self.store, cluster_id)
        if found is None:
            raise NotFoundError(f"no cluster {cluster_id}")
        return out.jsonable_object(found)

    def priorities(self, **filters: Any) -> dict[str, Any]:
        settings = priority.PrioritySettings(
            severe_at=filters.pop("severe_at"), frequent_share=filters.pop("frequent_share")
        )
        items = priority.priorities(self.store, settings, **filters)
        return out.jsonable_object({"items": items, "quadrants": dict(priority.QUADRANTS)})

    def triage(self, cluster_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with _usage_errors():
            found = triage.set_triage(
                self.store, cluster_id, body["class"], by=body["by"], note=body.get("note")
            )
        return out.jsonable_object(found)

    def close(self) -> None:
        self.store.close()


class RemotePatterns(RemoteBackend):
    """The collector's ``/v1/clusters`` and ``/v1/priorities`` endpoints."""

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/v1/clusters/run", body, timeout=RUN_TIMEOUT_SECONDS)

    def assign(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._post("/v1/clusters/assign", body, timeout=RUN_TIMEOUT_SECONDS)

    def clusters(self, **filters: Any) -> dict[str, Any]:
        return self._get("/v1/clusters", filters)

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        return self._get(f"/v1/clusters/{quote(cluster_id, safe='')}")

    def priorities(self, **filters: Any) -> dict[str, Any]:
        return self._get("/v1/priorities", filters)

    def triage(self, cluster_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._post(f"/v1/clusters/{quote(cluster_id, safe='')}/triage", body)


@contextmanager
def _progress() -> Iterator[clusters.Progress]:
    """A transient progress bar on stderr fed by the clustering's (stage, fraction)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out.err_console(), transient=True) as bar:
        task = bar.add_task("clustering", total=1.0)

        def report(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        yield report


@contextmanager
def open_patterns(target: Target, *, write: bool = False) -> Iterator[PatternsBackend]:
    """Local or remote as the other commands decide (the collector fallback included).
    Local writes show their own progress bar; everything else gets a spinner."""
    backend = connect(target, write=write)
    found: PatternsBackend
    if isinstance(backend, LocalBackend):
        found = LocalPatterns(backend.store, backend.where)
    else:
        assert isinstance(backend, RemoteBackend)
        backend.close()
        found = RemotePatterns(backend.base_url, target.api_key)
    try:
        if write and isinstance(found, LocalPatterns):
            yield found
        else:
            doing = "asking" if write else "reading from"
            with out.err_console().status(f"{doing} the {found.where}"):
                yield found
    finally:
        found.close()


def _kind(value: str | None) -> str | None:
    if value is None or value in KINDS:
        return value
    raise usage_error("--kind", f"unknown cluster kind {value!r}; one of: {', '.join(KINDS)}")


def _time(option: str, value: str | None) -> datetime | None:
    return parse_time(option, value)


# -- clusters run / assign ---------------------------------------------------------------------
@clusters_app.command("run")
def run(
    ctx: typer.Context,
    kind: KindOpt = None,
    feature: FeatureOpt = None,
    pooled: Annotated[
        bool, typer.Option("--pooled", help="Cluster every feature together, as one.")
    ] = False,
    weeks: Annotated[
        int, typer.Option(min=1, max=520, help="Look at the last N weeks.")
    ] = clusters.DEFAULT_WEEKS,
    signal: Annotated[
        list[str] | None,
        typer.Option(
            "--signal",
            help="A negative signal to include (repeat the option); default: all of "
            + ", ".join(SIGNALS)
            + ".",
        ),
    ] = None,
    embedding: Annotated[
        str,
        typer.Option(help="Embedding: " + ", ".join(available_embedders()) + "."),
    ] = "tfidf",
    max_inputs: Annotated[
        int, typer.Option(min=10, help="Cluster at most N inputs; assign the rest.")
    ] = 100_000,
    min_size: Annotated[int, typer.Option(min=1, help="Smallest cluster kept.")] = 5,
    now: NowOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-cluster: replace the active clusters of each feature (or of the pooled scope).

    A new cluster that continues an old one keeps its triage.
    """
    if pooled and feature:
        raise usage_error("--pooled", "give --feature or --pooled, not both")
    signals = list(signal or SIGNALS)
    unknown = [s for s in signals if s not in SIGNALS]
    if unknown:
        raise usage_error(
            "--signal", f"unknown signal {unknown[0]!r}; one of: {', '.join(SIGNALS)}"
        )
    if embedding not in available_embedders():
        choices = ", ".join(available_embedders())
        raise usage_error("--embedding", f"unknown embedding {embedding!r}; one of: {choices}")
    body: dict[str, Any] = {
        "kind": _kind(kind) or "negative",
        "feature": feature,
        "pooled": pooled,
        "weeks": weeks,
        "signals": signals,
        "embedding": embedding,
        "max_inputs": max_inputs,
        "min_size": min_size,
        "now": _time("--now", now),
    }
    with open_patterns(target_of(ctx), write=True) as backend:
        found = backend.run(body)
        where = backend.where
    if as_json:
        out.print_json(found)
        return
    out.console().print(_run_report(found, where))


def _run_report(found: dict[str, Any], where: str) -> RenderableType:
    table = Table()
    for name in ("feature", "inputs", "clusters", "clustered", "continued", "seconds"):
        table.add_column(name, justify="left" if name == "feature" else "right")
    for scope in found.get("scopes") or []:
        table.add_row(
            out.text(scope.get("feature") or "all features"),
            out.number(scope.get("inputs")),
            out.number(scope.get("clusters")),
            out.number(scope.get("clustered")),
            out.number(scope.get("continued")),
            out.number(scope.get("seconds"), digits=1),
        )
    title = (
        f"{found.get('kind')} clusters on the {where} ({found.get('embedding')}, last "
        f"{(found.get('window') or {}).get('weeks')} weeks): {found.get('clusters')} in all"
    )
    note = "continued: clusters that carry on an earlier one (and keep its triage)"
    return Group(out.titled(title, table, note), Text("Next: promptloop priorities"))


@clusters_app.command("assign")
def assign(
    ctx: typer.Context,
    kind: KindOpt = None,
    feature: FeatureOpt = None,
    now: NowOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Add new negatively signalled interactions to the nearest existing cluster (or leave
    them unassigned when they are farther than the cluster's own members)."""
    body = {"kind": _kind(kind), "feature": feature, "now": _time("--now", now)}
    with open_patterns(target_of(ctx), write=True) as backend:
        found = backend.assign(body)
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for name in ("kind", "feature", "examined", "assigned", "unassigned"):
        table.add_column(name, justify="left" if name in ("kind", "feature") else "right")
    for scope in found.get("scopes") or []:
        table.add_row(
            out.text(scope.get("kind")),
            out.text(scope.get("feature") or "all features"),
            out.number(scope.get("examined")),
            out.number(scope.get("assigned")),
            out.number(scope.get("unassigned")),
        )
    title = f"assigned {found.get('assigned', 0)}, left unassigned {found.get('unassigned', 0)}"
    out.console().print(out.titled(title, table))


# -- clusters list / show ----------------------------------------------------------------------
@clusters_app.command("list")
def list_(
    ctx: typer.Context,
    kind: KindOpt = None,
    feature: FeatureOpt = None,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Also the clusters earlier runs replaced.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Active failure clusters, largest first: label, share of traffic, trend, triage."""
    filters = {"kind": _kind(kind), "feature": feature, "include_inactive": include_inactive}
    with open_patterns(target_of(ctx)) as backend:
        found = backend.clusters(**filters)
    if as_json:
        out.print_json(found)
        return
    if not found["items"]:
        out.console().print(Text("no clusters: run `promptloop clusters run`", style="dim"))
        return
    out.console().print(out.titled("failure clusters", _clusters_table(found["items"]), _NOTE))


_NOTE = (
    "share: of the feature's interactions in the window, with its 95% interval · "
    "triage: confirmed class, or the suggestion followed by ?"
)


def _clusters_table(items: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("id", "feature", "label", "size", "share", "/week", "trend", "triage"):
        right = name in ("size", "/week")
        keep = name in ("id", "size", "share", "/week", "trend")
        table.add_column(name, justify="right" if right else "left", no_wrap=keep)
    for item in items:
        table.add_row(
            Text(item["cluster_id"][:8], style="" if item.get("active") else "dim"),
            out.text(item.get("feature") or "all"),
            out.text(item.get("label"), limit=40),
            out.number(item.get("size")),
            _share(item.get("share") or {}),
            out.number(item.get("per_week"), digits=1),
            Text(_sparkline([week.get("interactions", 0) for week in item.get("trend") or []])),
            _triage_cell(item.get("triage") or {}),
        )
    return table


def _share(share: dict[str, Any], digits: int = 1) -> Text:
    """``4.9% [3.8-6.4]``: the rate and its 95% interval, in percent."""
    if share.get("rate") is None:
        return Text("-", style="dim")
    rate, low, high = (100 * float(share[key]) for key in ("rate", "low", "high"))
    return Text(f"{rate:.{digits}f}% [{low:.{digits}f}-{high:.{digits}f}]")


def _sparkline(values: list[int]) -> str:
    top = max(values, default=0)
    if top <= 0:
        return "·" * len(values)
    return "".join(_SPARK[min(len(_SPARK) - 1, int(v / top * (len(_SPARK) - 1)))] for v in values)


def _triage_cell(found: dict[str, Any]) -> Text:
    if found.get("class"):
        return Text(str(found["class"]))
    if found.get("suggestion"):
        return Text(f"{found['suggestion']}?", style="dim")
    return Text("-", style="dim")


@clusters_app.command("show")
def show(ctx: typer.Context, cluster_id: ClusterIdArg, as_json: JsonFlag = False) -> None:
    """One cluster: examples nearest its centre, signal mix, trend, evidence, triage."""
    with open_patterns(target_of(ctx)) as backend:
        found = backend.cluster(cluster_id)
    if as_json:
        out.print_json(found)
        return
    out.console().print(_cluster_view(found))


def _cluster_view(found: dict[str, Any]) -> RenderableType:
    facts = Table(show_header=False)
    facts.add_column(style="bold")
    facts.add_column()
    window = found.get("window") or {}
    for name, value in (
        ("id", Text(found["cluster_id"])),
        ("kind · feature", Text(f"{found['kind']} · {found.get('feature') or 'all features'}")),
        ("size", out.number(found.get("size"))),
        ("share", _share(found.get("share") or {}, digits=2)),
        ("per week", out.number(found.get("per_week"), digits=1)),
        ("window", Text(f"{_when(window.get('since'))} .. {_when(window.get('until'))}")),
        ("trend", Text(_trend_text(found.get("trend") or []))),
        ("top terms", Text(", ".join(t["term"] for t in found.get("top_terms") or []) or "-")),
        ("signals", Text(_mix_text((found.get("signal_mix") or {}).get("labels") or {}))),
        ("triage", _triage_text(found.get("triage") or {})),
    ):
        facts.add_row(name, value)
    examples = Table(title="examples nearest the centre")
    for name in ("interaction", "input", "times", "distance"):
        examples.add_column(name, justify="right" if name in ("times", "distance") else "left")
    for example in found.get("examples") or []:
        examples.add_row(
            Text(example["interaction_id"]),
            out.text(example.get("user_input"), limit=70),
            out.number(example.get("occurrences")),
            out.number(example.get("distance"), digits=3),
        )
    return Group(Text(found["label"], style="bold"), facts, examples)


def _when(value: Any) -> str:
    return out.when(value, seconds=False).plain


def _trend_text(trend: list[dict[str, Any]]) -> str:
    counts = [int(week.get("interactions") or 0) for week in trend]
    return (
        f"{_sparkline(counts)}  " + " ".join(str(c) for c in counts) + " (per week, oldest first)"
    )


def _mix_text(labels: dict[str, int]) -> str:
    ordered = sorted(labels.items(), key=lambda item: -int(item[1]))
    return ", ".join(f"{label} {count}" for label, count in ordered) or "-"


def _triage_text(found: dict[str, Any]) -> Text:
    parts = []
    if found.get("class"):
        parts.append(f"{found['class']} (by {found.get('by')}, {found.get('at')})")
        if found.get("note"):
            parts.append(f"note: {found['note']}")
    if found.get("suggestion"):
        parts.append(f"suggested: {found['suggestion']} — {found.get('reason') or ''}")
    elif found.get("reason"):
        parts.append(str(found["reason"]))
    return Text("\n".join(parts) or "-")


# -- priorities ----------------------------------------------------------------------------------
def priorities(
    ctx: typer.Context,
    kind: KindOpt = None,
    feature: FeatureOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, max=1000, help="At most N patterns.")] = None,
    severe_at: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Severity from which a pattern is severe.")
    ] = priority.PrioritySettings.severe_at,
    frequent_share: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Share of the feature's traffic from which it is frequent."
        ),
    ] = priority.PrioritySettings.frequent_share,
    as_json: JsonFlag = False,
) -> None:
    """Failure patterns in the order to fix them: frequency x severity quadrants.

    frequent & severe: next sprint · rare & severe: address promptly · frequent & mild:
    batch into prompt maintenance · rare & mild: monitor.
    """
    filters = {
        "kind": _kind(kind),
        "feature": feature,
        "limit": limit,
        "severe_at": severe_at,
        "frequent_share": frequent_share,
    }
    with open_patterns(target_of(ctx)) as backend:
        found = backend.priorities(**filters)
    if as_json:
        out.print_json(found)
        return
    if not found["items"]:
        out.console().print(Text("no clusters: run `promptloop clusters run`", style="dim"))
        return
    note = (
        "severity 0..1 from the signals' labels (inappropriate > wrong > abandonment > "
        "off_topic > unhelpful > regeneration); share of the feature's traffic, 95% interval"
    )
    out.console().print(out.titled("priorities", _priorities_table(found["items"]), note))


def _priorities_table(items: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("#", "action", "id", "feature", "label", "share", "/week", "severity", "triage"):
        right = name in ("#", "/week", "severity")
        keep = name in ("#", "id", "share", "/week", "severity")
        table.add_column(name, justify="right" if right else "left", no_wrap=keep)
    for item in items:
        frequency = item["frequency"]
        table.add_row(
            str(item["rank"]),
            Text(item["action"], style="bold" if item["quadrant"] == "frequent_severe" else ""),
            Text(item["cluster_id"][:8]),
            out.text(item.get("feature") or "all"),
            out.text(item.get("label"), limit=40),
            _share(frequency.get("share") or {}),
            out.number(frequency.get("per_week"), digits=1),
            out.number(item["severity"]["score"], digits=2),
            _triage_cell(item.get("triage") or {}),
        )
    return table


# -- triage set ----------------------------------------------------------------------------------
@triage_app.command("set")
def set_(
    ctx: typer.Context,
    cluster_id: ClusterIdArg,
    triage_class: Annotated[
        str,
        typer.Argument(metavar="CLASS", help="prompt_fixable, model_limitation or product_scope."),
    ],
    by: Annotated[str, typer.Option("--by", help="Who triaged (required).")],
    note: Annotated[str | None, typer.Option("--note", help="Why, for the record.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Confirm or override a cluster's triage class; it survives re-clustering."""
    if triage_class not in triage.TRIAGE_CLASSES:
        choices = ", ".join(triage.TRIAGE_CLASSES)
        raise usage_error(
            "TRIAGE_CLASS", f"unknown triage class {triage_class!r}; one of: {choices}"
        )
    if not by.strip():
        raise usage_error("--by", "who triaged is required")
    body = {"class": triage_class, "by": by, "note": note}
    with open_patterns(target_of(ctx), write=True) as backend:
        found = backend.triage(cluster_id, body)
    if as_json:
        out.print_json(found)
        return
    done = found["triage"]
    line = f"{found['cluster_id']} ({found['label']}): {done['class']}, by {done['by']}"
    out.console().print(Text(line))
