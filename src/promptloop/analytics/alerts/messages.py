"""The sentence a person reads: in the webhook, the CLI and the API.

"Regeneration rate on summarize rose from 8.1% to 12.4% (n=2,310) since 14:00 UTC;
CUSUM 13.2 > 9.1"
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from promptloop.analytics.alerts.rules import LABELS
from promptloop.core.records import as_utc


def scope_text(feature: str | None, prompt_version: str | None, scope_kind: str) -> str:
    if scope_kind == "prompt_version":
        where = f"{feature} " if feature else ""
        return f"{where}prompt version {prompt_version}"
    return str(feature)


def _when(value: Any, reference: Any) -> str:
    moment = _as_datetime(value)
    if moment is None:
        return "?"
    other = _as_datetime(reference)
    if other is not None and other.date() == moment.date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _percent(value: Any) -> str:
    return "?" if value is None else f"{100 * float(value):.1f}%"


def alert_message(alert: dict[str, Any]) -> str:
    """One line: what rose where, from what to what, on how much data, since when, why."""
    metric = str(alert.get("metric"))
    label = LABELS.get(metric, f"{metric} rate")
    where = scope_text(alert.get("feature"), alert.get("prompt_version"), str(alert["scope_kind"]))
    n = alert.get("observed_n") or 0
    text = (
        f"{label} on {where} rose from {_percent(alert.get('baseline_rate'))} to "
        f"{_percent(alert.get('observed_rate'))} (n={int(n):,}) since "
        f"{_when(alert.get('window_start'), alert.get('window_end'))}; "
        f"CUSUM {float(alert.get('statistic') or 0):.1f} > {float(alert.get('threshold') or 0):.1f}"
    )
    if alert.get("status") == "resolved":
        reason = ((alert.get("evidence") or {}).get("resolution") or {}).get("reason")
        back = "no traffic" if reason == "no_traffic" else "back to baseline"
        text += f" (resolved: {back})"
    return text
