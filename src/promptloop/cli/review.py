"""``promptloop review``: fill the review queue, label items from the terminal, measure
agreement, and write the periodic prompt review report (docs/review.md).

Locally everything runs on the store (opened for writing when the command writes); with
--url, or when the store is held by a running collector, the collector's ``/v1/review``
endpoints do the work. Both print the API's JSON shapes with --json.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote

import click
import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli._backend import LocalBackend, RemoteBackend, Target, connect, target_of
from promptloop.cli._errors import usage_error
from promptloop.cli._options import JsonFlag, parse_time
from promptloop.exceptions import ConfigError
from promptloop.review import queue, workflow
from promptloop.review.agreement import agreement
from promptloop.review.config import RULE_NAMES, ReviewSettings, load_settings
from promptloop.review.labels import (
    CATEGORIES,
    FIXABILITIES,
    SEVERITIES,
    VERDICTS,
    LabelInput,
    parse_label,
)
from promptloop.review.onward import calibrate_triage
from promptloop.review.render import to_html, to_markdown
from promptloop.review.report import build_report, parse_period
from promptloop.store.base import Store

app = typer.Typer(
    help="The review queue: enqueue by rules, label with the keyboard, agreement, the report.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="PROMPTLOOP_REVIEW_CONFIG",
        help="Review settings (YAML): rules, priorities, sample rate, double-label share.",
    ),
]
ReviewerOpt = Annotated[
    str, typer.Option("--reviewer", envvar="PROMPTLOOP_REVIEWER", help="Who is reviewing.")
]
VerdictOpt = Annotated[str | None, typer.Option("--verdict", help="good, bad or unsure.")]
CategoryOpt = Annotated[
    str | None,
    typer.Option("--category", help=f"One of {', '.join(CATEGORIES)}, or a custom one."),
]
SeverityOpt = Annotated[str | None, typer.Option("--severity", help=", ".join(SEVERITIES))]
FixabilityOpt = Annotated[str | None, typer.Option("--fixability", help=", ".join(FIXABILITIES))]
CorrectedOpt = Annotated[
    str | None, typer.Option("--corrected-answer", help="What the answer should have been.")
]
NotesOpt = Annotated[str | None, typer.Option("--notes", help="Free text for the record.")]


def _settings(path: Path | None) -> ReviewSettings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        raise usage_error("--config", str(exc)) from None


def _label(
    verdict: str | None,
    category: str | None,
    severity: str | None,
    fixability: str | None,
    corrected: str | None,
    notes: str | None,
) -> LabelInput:
    fields = {
        "verdict": verdict,
        "category": category,
        "severity": severity,
        "fixability": fixability,
        "corrected_answer": corrected,
        "notes": notes,
    }
    try:
        return parse_label({key: value for key, value in fields.items() if value is not None})
    except ValueError as exc:
        field = str(exc).split(":", 1)[0].replace("_", "-")
        raise usage_error(f"--{field}", str(exc).split(": ", 1)[-1]) from None


# -- backends --------------------------------------------------------------------------------
class ReviewBackend(Protocol):
    where: str

    def enqueue(self, days: int, rules: list[str] | None) -> dict[str, Any]: ...

    def queue(self, status: str, rule: str | None, limit: int) -> dict[str, Any]: ...

    def next(self, reviewer: str) -> dict[str, Any] | None: ...

    def label(self, item_id: str, reviewer: str, label: LabelInput) -> dict[str, Any]: ...

    def label_interaction(
        self, interaction_id: str, reviewer: str, label: LabelInput
    ) -> dict[str, Any]: ...

    def release(self, item_id: str, reviewer: str) -> dict[str, Any]: ...

    def agreement(self, since: datetime | None, until: datetime | None) -> dict[str, Any]: ...

    def report(self, period: str) -> dict[str, Any]: ...

    def calibrate(self, min_labels: int, majority: float) -> dict[str, Any]: ...

    def close(self) -> None: ...


class LocalReview:
    """Runs :mod:`promptloop.review` on an open store."""

    def __init__(self, store: Store, where: str, settings: ReviewSettings) -> None:
        self.store, self.where, self.settings = store, where, settings

    def enqueue(self, days: int, rules: list[str] | None) -> dict[str, Any]:
        return out.jsonable_object(queue.enqueue(self.store, self.settings, days=days, rules=rules))

    def queue(self, status: str, rule: str | None, limit: int) -> dict[str, Any]:
        chosen = None if status == "all" else status
        found = queue.list_items(self.store, status=chosen, rule=rule, limit=limit)
        return out.jsonable_object(found)

    def next(self, reviewer: str) -> dict[str, Any] | None:
        found = workflow.next_item(self.store, reviewer, self.settings)
        return None if found is None else out.jsonable_object(found)

    def label(self, item_id: str, reviewer: str, label: LabelInput) -> dict[str, Any]:
        return out.jsonable_object(workflow.label_item(self.store, item_id, reviewer, label))

    def label_interaction(
        self, interaction_id: str, reviewer: str, label: LabelInput
    ) -> dict[str, Any]:
        found = workflow.label_interaction(
            self.store, interaction_id, reviewer, label, self.settings
        )
        return out.jsonable_object(found)

    def release(self, item_id: str, reviewer: str) -> dict[str, Any]:
        return out.jsonable_object(queue.release(self.store, item_id, reviewer))

    def agreement(self, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        return out.jsonable_object(agreement(self.store, since=since, until=until))

    def report(self, period: str) -> dict[str, Any]:
        return out.jsonable_object(build_report(self.store, period=period))

    def calibrate(self, min_labels: int, majority: float) -> dict[str, Any]:
        found = calibrate_triage(self.store, min_labels=min_labels, majority=majority)
        return out.jsonable_object(found)

    def close(self) -> None:
        self.store.close()


def _segment(value: str) -> str:
    return quote(value, safe="")


class RemoteReview(RemoteBackend):
    """The collector's ``/v1/review`` endpoints."""

    def enqueue(self, days: int, rules: list[str] | None) -> dict[str, Any]:
        return self._post("/v1/review/enqueue", {"days": days, "rules": rules})

    def queue(self, status: str, rule: str | None, limit: int) -> dict[str, Any]:
        return self._get("/v1/review/queue", {"status": status, "rule": rule, "limit": limit})

    def next(self, reviewer: str) -> dict[str, Any] | None:
        found = self._post("/v1/review/next", {"reviewer": reviewer})
        return None if found.get("empty") else found

    def label(self, item_id: str, reviewer: str, label: LabelInput) -> dict[str, Any]:
        body = {"reviewer": reviewer, **label.model_dump(exclude_none=True)}
        return self._post(f"/v1/review/items/{_segment(item_id)}/label", body)

    def label_interaction(
        self, interaction_id: str, reviewer: str, label: LabelInput
    ) -> dict[str, Any]:
        body = {"reviewer": reviewer, **label.model_dump(exclude_none=True)}
        return self._post(f"/v1/review/interactions/{_segment(interaction_id)}/label", body)

    def release(self, item_id: str, reviewer: str) -> dict[str, Any]:
        return self._post(f"/v1/review/items/{_segment(item_id)}/release", {"reviewer": reviewer})

    def agreement(self, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        return self._get("/v1/review/agreement", {"since": since, "until": until})

    def report(self, period: str) -> dict[str, Any]:
        return self._get("/v1/review/report", {"period": period})

    def calibrate(self, min_labels: int, majority: float) -> dict[str, Any]:
        return self._post(
            "/v1/review/triage/calibrate", {"min_labels": min_labels, "majority": majority}
        )


@contextmanager
def open_review(
    target: Target, settings: ReviewSettings, *, write: bool = False, spinner: bool = True
) -> Iterator[ReviewBackend]:
    """Local or remote exactly as the other commands decide (fallback included)."""
    backend = connect(target, write=write)
    found: ReviewBackend
    if isinstance(backend, LocalBackend):
        found = LocalReview(backend.store, backend.where, settings)
    else:
        assert isinstance(backend, RemoteBackend)
        backend.close()
        found = RemoteReview(backend.base_url, target.api_key)
    try:
        if spinner:
            doing = "writing to" if write else "reading from"
            with out.err_console().status(f"{doing} the {found.where}"):
                yield found
        else:
            yield found
    finally:
        found.close()


# -- enqueue and queue -----------------------------------------------------------------------
@app.command("enqueue")
def enqueue(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, help="Look back this many days.")] = 7,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", help=f"Only this rule (repeat): {', '.join(RULE_NAMES[:-1])}."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Run the queue rules: interactions worth a person's eyes enter the queue (once each)."""
    for name in rule or []:
        if name not in RULE_NAMES[:-1]:
            raise usage_error(
                "--rule", f"unknown rule {name!r}; one of: {', '.join(RULE_NAMES[:-1])}"
            )
    with open_review(target_of(ctx), _settings(config), write=True) as backend:
        found = backend.enqueue(days, list(rule) if rule else None)
    if as_json:
        out.print_json(found)
        return
    table = Table()
    table.add_column("rule")
    table.add_column("found", justify="right")
    table.add_column("added", justify="right")
    for name, count in found["found"].items():
        table.add_row(name, str(count), str(found["added_by_rule"].get(name, 0)))
    note = f"{found['added']} added; {found['open']} open items in the queue"
    out.console().print(out.titled(f"enqueued from the last {days} days", table, note))


@app.command("queue")
def list_queue(
    ctx: typer.Context,
    status: Annotated[str, typer.Option("--status", help="open, done or all.")] = "open",
    rule: Annotated[str | None, typer.Option("--rule", help="Only items of this rule.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most N items.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The queue in the order reviewers get it, and its counts by rule."""
    if status not in ("open", "done", "all"):
        raise usage_error("--status", f"unknown status {status!r}; one of: open, done, all")
    if rule is not None and rule not in RULE_NAMES:
        raise usage_error("--rule", f"unknown rule {rule!r}; one of: {', '.join(RULE_NAMES)}")
    with open_review(target_of(ctx), ReviewSettings()) as backend:
        found = backend.queue(status, rule, limit)
    if as_json:
        out.print_json(found)
        return
    counts = found["counts"]
    table = Table()
    for column in ("priority", "rule", "status", "labels", "feature", "input"):
        table.add_column(column)
    for item in found["items"]:
        table.add_row(
            f"{item['priority']:.2f}",
            item["rule"],
            item["status"] + (f" ({item['claimed_by']})" if item.get("claimed_by") else ""),
            f"{item['labels_count']}/{item['required_labels']}",
            out.text(item.get("feature")),
            out.text(item.get("user_input"), limit=60),
        )
    note = f"{counts['open']} open, {counts['done']} done, {counts['labels']} labels"
    out.console().print(out.titled(f"review queue ({status})", table, note))


# -- labelling -------------------------------------------------------------------------------
def _item_panel(view: dict[str, Any]) -> RenderableType:
    item, it = view["item"], view["interaction"]
    where = " · ".join(
        str(it.get(key)) for key in ("feature", "prompt_name", "prompt_version") if it.get(key)
    )
    lines: list[RenderableType] = [
        Text(where, style="dim"),
        Text("why: " + "; ".join(r["reason"] for r in item["reasons"]), style="yellow"),
        Text("input", style="bold"),
        out.text(it.get("user_input")),
        Text("output", style="bold"),
        out.text(it.get("raw_output")),
    ]
    feedback = [
        f"{f['source']}: {f['feedback_type']}"
        + (f" ({f['category']})" if f.get("category") else "")
        + (f" “{f['comment']}”" if f.get("comment") else "")
        for f in view["feedback"]
    ]
    lines.append(Text("feedback: " + ("; ".join(feedback) or "none"), style="dim"))
    others = [turn for turn in view["session"] if not turn["current"]]
    if others:
        lines.append(Text(f"session: {len(view['session'])} turns", style="dim"))
        for turn in others[:5]:
            lines.append(out.text(f"  · {turn.get('user_input')}", limit=100))
    return Panel(Group(*lines), title=f"item {item['item_id'][:8]} ({item['rule']})")


_KEYS_HELP = (
    "g good · b bad · u unsure · 1-9 category · s severity · f fixability · "
    "c corrected answer · o notes · Enter/n save and next · q quit"
)


def _cycle(values: tuple[str, ...], current: str | None) -> str | None:
    options: list[str | None] = [None, *values]
    return options[(options.index(current) + 1) % len(options)]


def _form_line(form: dict[str, Any], categories: list[str]) -> Text:
    chosen = " ".join(
        f"[{i + 1}] {name}" + ("*" if form["category"] == name else "")
        for i, name in enumerate(categories[:9])
    )
    return Text(
        f"verdict={form['verdict'] or '-'}  severity={form['severity'] or '-'}  "
        f"fixability={form['fixability'] or '-'}  category: {chosen}"
    )


def _read_label(view: dict[str, Any]) -> LabelInput | None:
    """Single keys until Enter (a label) or q (None)."""
    prefill = view.get("prefill") or {}
    categories = list(CATEGORIES)
    if prefill.get("category") and prefill["category"] not in categories:
        categories.append(prefill["category"])
    form: dict[str, Any] = {
        "verdict": None,
        "category": prefill.get("category"),
        "severity": None,
        "fixability": None,
        "corrected_answer": None,
        "notes": None,
    }
    console = out.console()
    console.print(Text(_KEYS_HELP, style="dim"))
    console.print(_form_line(form, categories))
    for _ in range(10_000):  # bounded: a reviewer presses far fewer keys per item
        key = _key()
        if key in ("", "q", "\x1b"):
            return None
        if key in ("\r", "\n", "n"):
            if form["verdict"]:
                return parse_label({k: v for k, v in form.items() if v is not None})
            console.print(Text("choose a verdict first: g, b or u", style="red"))
            continue
        _apply_key(key, form, categories)
        console.print(_form_line(form, categories))
    return None


def _key() -> str:
    """One key press; from a pipe (a script), one character ('' at the end of input)."""
    if sys.stdin.isatty():
        return click.getchar()
    return sys.stdin.read(1)


def _apply_key(key: str, form: dict[str, Any], categories: list[str]) -> None:
    verdicts = {"g": "good", "b": "bad", "u": "unsure"}
    if key in verdicts:
        form["verdict"] = verdicts[key]
    elif key.isdigit() and 1 <= int(key) <= min(9, len(categories)):
        name = categories[int(key) - 1]
        form["category"] = None if form["category"] == name else name
    elif key == "s":
        form["severity"] = _cycle(SEVERITIES, form["severity"])
    elif key == "f":
        form["fixability"] = _cycle(FIXABILITIES, form["fixability"])
    elif key == "c":
        form["corrected_answer"] = typer.prompt("corrected answer", default="") or None
    elif key == "o":
        form["notes"] = typer.prompt("notes", default="") or None


@app.command("next")
def next_(
    ctx: typer.Context,
    reviewer: ReviewerOpt,
    verdict: VerdictOpt = None,
    category: CategoryOpt = None,
    severity: SeverityOpt = None,
    fixability: FixabilityOpt = None,
    corrected_answer: CorrectedOpt = None,
    notes: NotesOpt = None,
    interactive: Annotated[
        bool | None,
        typer.Option(
            "--interactive/--no-interactive",
            help="Label item after item with single keys (default: when stdin is a terminal "
            "and no --verdict is given).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Interactive: stop after N items.")
    ] = 1000,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Claim the next item. With --verdict, label it at once; interactively, label item after
    item with the keyboard; otherwise print it (it stays claimed for you for 10 minutes)."""
    settings = _settings(config)
    if interactive is None:
        interactive = verdict is None and sys.stdin.isatty()
    label = (
        None
        if verdict is None
        else _label(verdict, category, severity, fixability, corrected_answer, notes)
    )
    with open_review(target_of(ctx), settings, write=True, spinner=not interactive) as backend:
        if interactive:
            _interactive(backend, reviewer, limit)
            return
        view = backend.next(reviewer)
        if view is None:
            _empty(as_json)
            return
        result = view if label is None else backend.label(view["item"]["item_id"], reviewer, label)
    if as_json:
        out.print_json(result)
    elif label is None:
        out.console().print(_item_panel(view))
    else:
        out.console().print(_labelled(result))


def _empty(as_json: bool) -> None:
    if as_json:
        out.print_json({"item": None, "empty": True})
    else:
        out.console().print(Text("the queue is empty: nothing to label", style="dim"))


def _labelled(result: dict[str, Any]) -> Text:
    label, item = result["label"], result["item"]
    onward = result.get("onward") or {}
    accepted = len((onward.get("datasets") or {}).get("accepted") or [])
    return Text(
        f"labelled {item['item_id'][:8]} {label['verdict']}"
        + (f" ({label['category']})" if label.get("category") else "")
        + f" by {label['reviewer']}; item {item['status']} "
        f"({item['labels_count']}/{item['required_labels']} labels); "
        f"{len(onward.get('feedback_ids') or [])} annotator feedback events"
        + (f", {accepted} eval items accepted" if accepted else "")
    )


def _interactive(backend: ReviewBackend, reviewer: str, limit: int) -> None:
    console = out.console()
    done = 0
    while done < limit:
        view = backend.next(reviewer)
        if view is None:
            console.print(Text(f"the queue is empty; {done} labelled", style="dim"))
            return
        console.print(_item_panel(view))
        label = _read_label(view)
        if label is None:
            backend.release(view["item"]["item_id"], reviewer)
            console.print(Text(f"stopped; {done} labelled, the item is back in the queue"))
            return
        console.print(_labelled(backend.label(view["item"]["item_id"], reviewer, label)))
        done += 1
    console.print(Text(f"{done} labelled"))


@app.command("label")
def label_(
    ctx: typer.Context,
    interaction_id: Annotated[str, typer.Argument(help="The interaction to label.")],
    reviewer: ReviewerOpt,
    verdict: Annotated[str, typer.Option("--verdict", help="good, bad or unsure.")],
    category: CategoryOpt = None,
    severity: SeverityOpt = None,
    fixability: FixabilityOpt = None,
    corrected_answer: CorrectedOpt = None,
    notes: NotesOpt = None,
    config: ConfigOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Label one interaction found elsewhere (a search, the report): it is queued by hand,
    claimed and labelled at once, and the label flows onward like any other."""
    label = _label(verdict, category, severity, fixability, corrected_answer, notes)
    with open_review(target_of(ctx), _settings(config), write=True) as backend:
        result = backend.label_interaction(interaction_id, reviewer, label)
    if as_json:
        out.print_json(result)
        return
    out.console().print(_labelled(result))


# -- agreement, report, triage ---------------------------------------------------------------
@app.command("agreement")
def agreement_(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="Labels from (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Labels before (ISO 8601).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Inter-annotator agreement on double-labelled items: Cohen's kappa per label field, and
    the disagreements to settle."""
    start, end = parse_time("--since", since), parse_time("--until", until)
    with open_review(target_of(ctx), ReviewSettings()) as backend:
        found = backend.agreement(start, end)
    if as_json:
        out.print_json(found)
        return
    table = Table()
    for column in ("field", "pairs", "agreement", "kappa", "reading"):
        table.add_column(column)
    for name, field in found["fields"].items():
        table.add_row(
            name,
            str(field["pairs"]),
            "-" if field["agreement"] is None else f"{field['agreement']:.0%}",
            "-" if field["kappa"] is None else f"{field['kappa']:.2f}",
            field["interpretation"],
        )
    note = (
        f"{found['double_labelled_items']} double-labelled items; "
        f"{len(found['disagreements'])} disagreements to settle"
    )
    parts: list[RenderableType] = [out.titled("agreement (Cohen's kappa)", table, note)]
    for item in found["disagreements"][:20]:
        labels = " vs ".join(
            f"{lb['reviewer']}: {lb['verdict']}/{lb['category'] or '-'}" for lb in item["labels"]
        )
        parts.append(Text(f"{item['interaction_id']}  {', '.join(item['fields'])}  {labels}"))
    out.console().print(Group(*parts))


@app.command("report")
def report(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help="30d, 2w, 12h, ...")] = "30d",
    format_: Annotated[str, typer.Option("--format", help="markdown, html or json.")] = "markdown",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="The dashboard's URL, for links in the report.")
    ] = "",
) -> None:
    """The periodic prompt review: top 20 flagged interactions, patterns, alerts, versions,
    holdout, labels, and the one prompt change to make (with its `prompts push` command)."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise usage_error("--period", str(exc).split(": ", 1)[1]) from None
    if format_ not in ("markdown", "html", "json"):
        raise usage_error("--format", f"unknown format {format_!r}; one of: markdown, html, json")
    with open_review(target_of(ctx), ReviewSettings()) as backend:
        found = backend.report(period)
    base = base_url.rstrip("/")
    if format_ == "json":
        text = out.json_text(found, indent=2)
    elif format_ == "html":
        text = to_html(found, base=base)
    else:
        text = to_markdown(found, base=base)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    output.write_text(text, encoding="utf-8")
    out.err_console().print(Text(f"wrote the {period} review to {output}"))


@app.command("calibrate-triage")
def calibrate_triage_(
    ctx: typer.Context,
    min_labels: Annotated[
        int, typer.Option("--min-labels", min=1, help="Fixability labels a pattern needs.")
    ] = 3,
    majority: Annotated[
        float,
        typer.Option("--majority", min=0.5, max=1.0, help="Share of them that must agree."),
    ] = 0.6,
    as_json: JsonFlag = False,
) -> None:
    """Confirm failure patterns' triage from reviewers' fixability labels on their members
    (a person's own triage is kept), and say how often promptloop's suggestions agreed."""
    with open_review(target_of(ctx), ReviewSettings(), write=True) as backend:
        found = backend.calibrate(min_labels, majority)
    if as_json:
        out.print_json(found)
        return
    console = out.console()
    for entry in found["confirmed"]:
        console.print(Text(f"confirmed {entry['cluster_id']}  {entry['class']}  {entry['label']}"))
    for entry in found["kept_human_triage"]:
        console.print(
            Text(
                f"kept      {entry['cluster_id']}  {entry['kept']} (by {entry['by']})", style="dim"
            )
        )
    agreement_rate = found["suggestion_agreement"]
    rate = "-" if agreement_rate["rate"] is None else f"{agreement_rate['rate']:.0%}"
    console.print(
        Text(
            f"{len(found['confirmed'])} confirmed, {len(found['undecided'])} undecided; "
            f"suggestions agreed with reviewers on {agreement_rate['agreed']} of "
            f"{agreement_rate['compared']} patterns ({rate})"
        )
    )


__all__ = ["VERDICTS", "app"]
