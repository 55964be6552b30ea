"""Parsing and checking option values the same way in every command.

Each check raises :func:`~promptloop.cli._errors.usage_error`, so a bad value ends the
command with exit code 2 and one line naming the option.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from promptloop.analytics.queries import InteractionFilter
from promptloop.cli._errors import usage_error
from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.records import as_utc

FEEDBACK_TYPES = tuple(kind.value for kind in FeedbackType)
FEEDBACK_SOURCES = tuple(source.value for source in FeedbackSource)

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (ISO-8601 datetimes).")
]
FeatureOpt = Annotated[str | None, typer.Option("--feature", help="Only this product feature.")]
PromptVersionOpt = Annotated[
    str | None, typer.Option("--prompt-version", help="Only this prompt version.")
]
PromptNameOpt = Annotated[str | None, typer.Option("--prompt-name", help="Only this prompt.")]


def parse_time(option: str, value: str | None) -> datetime | None:
    """An ISO-8601 date or datetime; without an offset it is taken to be UTC."""
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise usage_error(
            option, f"{value!r} is not an ISO-8601 date or datetime (e.g. 2026-11-01T12:00Z)"
        ) from None


def check_feedback_type(value: str | None) -> str | None:
    if value is None or value in FEEDBACK_TYPES:
        return value
    raise usage_error(
        "--feedback-type", f"unknown feedback type {value!r}; one of: {', '.join(FEEDBACK_TYPES)}"
    )


def check_feedback_source(value: str | None) -> str | None:
    if value is None or value in FEEDBACK_SOURCES:
        return value
    raise usage_error(
        "--feedback-source",
        f"unknown feedback source {value!r}; one of: {', '.join(FEEDBACK_SOURCES)}",
    )


def window_start(
    since: str | None, days: int | None, *, now: datetime | None = None
) -> datetime | None:
    """``--since`` or ``--days`` (not both) as the start of a time window."""
    if since is not None and days is not None:
        raise usage_error("--since", "give --since or --days, not both")
    if days is not None:
        return (now or datetime.now(UTC)) - timedelta(days=days)
    return parse_time("--since", since)


def interaction_filter(
    *,
    prompt_version: str | None = None,
    prompt_name: str | None = None,
    feature: str | None = None,
    session: str | None = None,
    model: str | None = None,
    feedback_type: str | None = None,
    feedback_source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> InteractionFilter:
    return InteractionFilter(
        prompt_version=prompt_version,
        prompt_name=prompt_name,
        feature=feature,
        session_id=session,
        model=model,
        feedback_type=check_feedback_type(feedback_type),
        feedback_source=check_feedback_source(feedback_source),
        since=since,
        until=until,
    )
