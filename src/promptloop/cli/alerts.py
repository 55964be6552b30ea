"""``promptloop alerts``: check for rising rates, list and show alerts, acknowledge them.

Locally the check runs here, on the store opened for writing (and posts new alerts to
``PROMPTLOOP_ALERT_WEBHOOK`` when it is set); with --url, or when the store is held by a
running collector, the collector runs it. Both print the same JSON, the API's shapes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Protocol
from urllib.parse import quote

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from promptloop.analytics import alerts
from promptloop.analytics.alerts.webhook import Notifier
from promptloop.cli import _output as out
from promptloop.cli._backend import (
    LocalBackend,
    RemoteBackend,
    Target,
    connect,
    target_of,
)
from promptloop.cli._errors import usage_error
from promptloop.cli._options import FeatureOpt, JsonFlag, PromptVersionOpt, parse_time
from promptloop.core.records import utc_now
from promptloop.store.base import Store

app = typer.Typer(
    help="Alerts on rising rates (regeneration first) per feature and prompt version.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

AlertIdArg = Annotated[str, typer.Argument(help="The alert's ID (from `alerts list`).")]
_SPARK = "▁▂▃▄▅▆▇█"


class AlertsBackend(Protocol):
    where: str

    def check(self, now: datetime | None) -> dict[str, Any]: ...

    def alerts(self, **filters: Any) -> dict[str, Any]: ...

    def alert(self, alert_id: str) -> dict[str, Any]: ...

    def acknowledge(self, alert_id: str, by: str, note: str | None) -> dict[str, Any]: ...

    def close(self) -> None: ...


class LocalAlerts:
    """Runs :mod:`promptloop.analytics.alerts` on an open store."""

    def __init__(self, store: Store, where: str) -> None:
        self.store = store
        self.where = where

    def check(self, now: datetime | None) -> dict[str, Any]:
        report = alerts.check(self.store, now=now)
        found = out.jsonable_object(report.as_dict())
        url = os.environ.get("PROMPTLOOP_ALERT_WEBHOOK")
        if url:
            notifier = Notifier(url)
            try:
                found["delivery"] = notifier.deliver_pending(self.store, now=now).as_dict()
            finally:
                notifier.close()
        return found

    def alerts(self, **filters: Any) -> dict[str, Any]:
        try:
            rows = alerts.list_alerts(self.store, **filters)
        except ValueError as exc:
            raise usage_error("--limit", str(exc)) from None
        items = [alerts.presented(row) for row in rows]
        return out.jsonable_object({"status": filters["status"], "items": items})

    def alert(self, alert_id: str) -> dict[str, Any]:
        return out.jsonable_object(
            alerts.presented(alerts.get_alert(self.store, alert_id), series=True)
        )

    def acknowledge(self, alert_id: str, by: str, note: str | None) -> dict[str, Any]:
        try:
            row = alerts.acknowledge(self.store, alert_id, by, note, now=utc_now())
        except ValueError as exc:
            raise usage_error("--by", str(exc)) from None
        return out.jsonable_object(alerts.presented(row, series=True))

    def close(self) -> None:
        self.store.close()


class RemoteAlerts(RemoteBackend):
    """The collector's ``/v1/alerts`` endpoints."""

    def check(self, now: datetime | None) -> dict[str, Any]:
        return self._post("/v1/alerts/check", {"now": now} if now else {})

    def alerts(self, **filters: Any) -> dict[str, Any]:
        return self._get("/v1/alerts", filters)

    def alert(self, alert_id: str) -> dict[str, Any]:
        return self._get(f"/v1/alerts/{_segment(alert_id)}")

    def acknowledge(self, alert_id: str, by: str, note: str | None) -> dict[str, Any]:
        return self._post(f"/v1/alerts/{_segment(alert_id)}/ack", {"by": by, "note": note})


def _segment(value: str) -> str:
    return quote(value, safe="")


@contextmanager
def open_alerts(target: Target, *, write: bool = False) -> Iterator[AlertsBackend]:
    """Local or remote exactly as the other commands decide (fallback included)."""
    backend = connect(target, write=write)
    found: AlertsBackend
    if isinstance(backend, LocalBackend):
        found = LocalAlerts(backend.store, backend.where)
    else:
        assert isinstance(backend, RemoteBackend)
        backend.close()
        found = RemoteAlerts(backend.base_url, target.api_key)
    try:
        doing = "writing to" if write else "reading from"
        with out.err_console().status(f"{doing} the {found.where}"):
            yield found
    finally:
        found.close()


# -- commands ------------------------------------------------------------------------------
@app.command("check")
def check(
    ctx: typer.Context,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Evaluate as of this ISO-8601 time instead of now (a replay)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run every alert rule now: open, update and resolve alerts; print what changed.

    The collector does this on its own every `alerts_interval` seconds (default 300).
    """
    as_of = parse_time("--now", now)
    with open_alerts(target_of(ctx), write=True) as backend:
        found = backend.check(as_of)
        where = backend.where
    if as_json:
        out.print_json(found)
        return
    out.console().print(_check_report(found, where))


def _check_report(found: dict[str, Any], where: str) -> RenderableType:
    title = (
        f"alert check on the {where}: {found.get('streams', 0)} streams, "
        f"{float(found.get('duration_ms') or 0):.0f} ms"
    )
    parts: list[RenderableType] = [Text(title, style="bold")]
    for kind in ("opened", "resolved", "updated"):
        for alert in found.get(kind) or []:
            parts.append(Text(f"{kind:>8}  {alert['alert_id']}  {alert['message']}"))
    if len(parts) == 1:
        parts.append(Text("no alert opened, updated or resolved", style="dim"))
    thin = int(found.get("thin_baseline") or 0)
    if thin:
        parts.append(Text(f"{thin} streams skipped: too little baseline traffic", style="dim"))
    return Group(*parts)


StatusOpt = Annotated[
    str,
    typer.Option(
        "--status",
        help="open, acknowledged, resolved, active (open or acknowledged) or all.",
    ),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    status: StatusOpt = "active",
    rule: Annotated[
        str | None, typer.Option("--rule", help="Only this rule, e.g. regeneration.feature.")
    ] = None,
    feature: FeatureOpt = None,
    prompt_version: PromptVersionOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most N alerts.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Alerts, newest first: by default the ones still open or acknowledged."""
    if status not in alerts.STATUS_FILTERS:
        choices = ", ".join(alerts.STATUS_FILTERS)
        raise usage_error("--status", f"unknown status {status!r}; one of: {choices}")
    filters = {"status": status, "rule_id": rule, "feature": feature, "limit": limit}
    with open_alerts(target_of(ctx)) as backend:
        found = backend.alerts(**filters, prompt_version=prompt_version)
    if as_json:
        out.print_json(found)
        return
    if not found["items"]:
        out.console().print(Text(f"no {status} alerts", style="dim"))
        return
    out.console().print(out.titled(f"alerts ({status})", _alerts_table(found["items"])))


def _alerts_table(items: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("alert", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("opened", no_wrap=True)
    table.add_column("what", min_width=30)
    for row in items:
        table.add_row(
            Text(str(row["alert_id"])),
            _status(row),
            out.when(row.get("opened_at"), seconds=False),
            out.text(row.get("message")),
        )
    return table


def _status(row: dict[str, Any]) -> Text:
    style = {"open": "red", "acknowledged": "yellow", "resolved": "green"}.get(row["status"], "")
    return Text(str(row["status"]), style=style)


@app.command("show")
def show(ctx: typer.Context, alert_id: AlertIdArg, as_json: JsonFlag = False) -> None:
    """One alert with its evidence: baseline, observed rate, the test and its series."""
    with open_alerts(target_of(ctx)) as backend:
        found = backend.alert(alert_id)
    if as_json:
        out.print_json(found)
        return
    body = Group(Text(str(found["message"])), _facts(found))
    out.console().print(out.titled(f"alert {found['alert_id']}", body))


def _facts(row: dict[str, Any]) -> Table:
    evidence = row.get("evidence") or {}
    design = evidence.get("design") or {}
    observed = evidence.get("observed") or {}
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    for label, value in _fact_rows(row, evidence, design, observed):
        facts.add_row(label, value if isinstance(value, Text) else out.text(value))
    return facts


def _fact_rows(
    row: dict[str, Any], evidence: dict[str, Any], design: dict[str, Any], observed: dict[str, Any]
) -> list[tuple[str, Any]]:
    baseline = evidence.get("baseline") or {}
    rows: list[tuple[str, Any]] = [
        ("status", _status(row)),
        ("rule", f"{row['rule_id']} (lift {design.get('lift')})"),
        ("opened", out.when(row.get("opened_at"))),
        ("baseline", f"{out.rate(baseline.get('events'), baseline.get('n'))}"),
        (
            "observed",
            f"{out.rate(observed.get('events'), observed.get('n'))} since "
            f"{out.when(observed.get('since'), seconds=False)}",
        ),
        (
            "test",
            f"{row['method']}: p0 {design.get('p0')} vs p1 {design.get('p1'):.4g}, "
            f"h {design.get('h')} (ARL0 >= {design.get('arl0'):,} interactions)",
        ),
        ("statistic", f"{float(row['statistic']):.2f} > {float(row['threshold']):.2f}"),
        ("cusum", _sparkline((evidence.get("series") or {}).get("cusum") or [])),
    ]
    if row.get("acknowledged_by"):
        note = f": {row['ack_note']}" if row.get("ack_note") else ""
        rows.append(("acknowledged", f"by {row['acknowledged_by']}{note}"))
    if row.get("resolved_at"):
        reason = (evidence.get("resolution") or {}).get("reason", "")
        rows.append(("resolved", f"{out.when(row['resolved_at'])} ({reason})"))
    rows.append(("webhook", _webhook(row)))
    return rows


def _webhook(row: dict[str, Any]) -> str:
    if row.get("notified_at"):
        return f"sent {out.when(row['notified_at'])}"
    return f"failed: {row['notify_error']}" if row.get("notify_error") else "not sent"


def _sparkline(values: list[float | None], width: int = 72) -> str:
    """The CUSUM over the window in at most ``width`` characters (each the max of its span)."""
    shown = [v or 0.0 for v in values]
    if not shown:
        return "-"
    step = max(1, -(-len(shown) // width))
    peaks = [max(shown[i : i + step]) for i in range(0, len(shown), step)]
    top = max(peaks) or 1.0
    return "".join(_SPARK[min(int(v / top * (len(_SPARK) - 1)), len(_SPARK) - 1)] for v in peaks)


@app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: AlertIdArg,
    by: Annotated[str, typer.Option("--by", help="Who acknowledges (required).")],
    note: Annotated[str | None, typer.Option("--note", help="What is being done.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Acknowledge an open alert: it stays visible, keeps updating, and still auto-resolves."""
    with open_alerts(target_of(ctx), write=True) as backend:
        found = backend.acknowledge(alert_id, by, note)
    if as_json:
        out.print_json(found)
        return
    out.console().print(Text(f"acknowledged {found['alert_id']} by {found['acknowledged_by']}"))
