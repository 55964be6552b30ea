"""Alerts on rising rates: a Bernoulli CUSUM per feature and per prompt version.

- :func:`check` evaluates every rule once (on a schedule in the collector, or on demand);
- :func:`list_alerts`, :func:`get_alert`, :func:`acknowledge` read and act on the results;
- :class:`Notifier` posts each new alert to a webhook; :class:`AlertScheduler` runs both.

The method, its parameters and its false-alarm rate are in docs/alerts.md.
"""

from promptloop.analytics.alerts.check import CheckReport, check, presented
from promptloop.analytics.alerts.messages import alert_message
from promptloop.analytics.alerts.rules import (
    DEFAULT_RULES,
    METRICS,
    AlertRule,
    AlertSettings,
    parse_rules,
)
from promptloop.analytics.alerts.store import (
    STATUS_FILTERS,
    acknowledge,
    get_alert,
    list_alerts,
)

__all__ = [
    "DEFAULT_RULES",
    "METRICS",
    "STATUS_FILTERS",
    "AlertRule",
    "AlertSettings",
    "CheckReport",
    "acknowledge",
    "alert_message",
    "check",
    "get_alert",
    "list_alerts",
    "parse_rules",
    "presented",
]
