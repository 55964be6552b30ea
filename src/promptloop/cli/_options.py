"""Parsing and checking option values the same way in every command.

Each check raises :func:`~promptloop.cli._errors.usage_error`, so a bad value ends the
command with exit code 2 and one line naming the option.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, cast, get_args

import typer
import yaml
from pydantic import ValidationError

from promptloop.analytics.queries import InteractionFilter
from promptloop.cli._errors import usage_error
from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.prompts import Bump, Evidence, SemVer, check_label, check_name
from promptloop.core.records import as_utc

FEEDBACK_TYPES = tuple(kind.value for kind in FeedbackType)
FEEDBACK_SOURCES = tuple(source.value for source in FeedbackSource)
BUMPS: tuple[str, ...] = get_args(Bump)
EVIDENCE_KINDS: tuple[str, ...] = get_args(Evidence.model_fields["kind"].annotation)

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (ISO-8601 datetimes).")
]
FeatureOpt = Annotated[str | None, typer.Option("--feature", help="Only this product feature.")]
PromptVersionOpt = Annotated[
    str | None, typer.Option("--prompt-version", help="Only this prompt version.")
]
PromptNameOpt = Annotated[str | None, typer.Option("--prompt-name", help="Only this prompt.")]
# The interaction explorer's filters, shared by every command that selects interactions.
SessionOpt = Annotated[str | None, typer.Option("--session", help="Only this session ID.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Only this model.")]
FeedbackTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--feedback-type",
        help="Only interactions with at least one event of this type: " + ", ".join(FEEDBACK_TYPES),
    ),
]
FeedbackSourceOpt = Annotated[
    str | None,
    typer.Option(
        "--feedback-source",
        help="Only interactions with feedback from this source: " + ", ".join(FEEDBACK_SOURCES),
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="From this ISO-8601 date/time on (UTC unless an offset)."),
]
DaysOpt = Annotated[
    int | None,
    typer.Option("--days", min=1, max=3650, help="Only the last N days (not with --since)."),
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Before this ISO-8601 date/time (exclusive).")
]


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


def default_user() -> str | None:
    """Who is acting: ``$USER`` (``$USERNAME`` on Windows), if set."""
    return os.environ.get("USER") or os.environ.get("USERNAME") or None


def parse_version(option: str, value: str) -> str:
    """A semantic version ``MAJOR.MINOR.PATCH`` (a leading ``v`` is accepted), normalised."""
    try:
        return str(SemVer.parse(value))
    except ValueError as exc:
        raise usage_error(option, str(exc)) from None


def check_version(option: str, value: str | None) -> str | None:
    return None if value is None else parse_version(option, value)


def check_prompt_name(option: str, value: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        raise usage_error(option, f"{value!r}: {exc}") from None


def check_label_name(option: str, value: str) -> str:
    try:
        return check_label(value)
    except ValueError as exc:
        raise usage_error(option, f"{value!r}: {exc}") from None


def check_bump(value: str | None) -> Bump | None:
    if value is None or value in BUMPS:
        return cast(Bump | None, value)
    raise usage_error("--bump", f"{value!r} is not one of: {', '.join(BUMPS)}")


def parse_settings(values: list[str] | None) -> dict[str, Any]:
    """``--setting key=value`` pairs; each value is read as YAML (``0.2`` is a number)."""
    settings: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise usage_error("--setting", f"{item!r} is not KEY=VALUE (e.g. temperature=0.2)")
        try:
            settings[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            settings[key.strip()] = raw
    return settings


def parse_evidence(values: list[str] | None) -> list[dict[str, Any]]:
    """``--evidence KIND:REF`` items, checked like the API checks them."""
    found: list[dict[str, Any]] = []
    for item in values or []:
        kind, sep, ref = item.partition(":")
        try:
            if not sep:
                raise ValueError("missing ':'")
            evidence = Evidence(kind=kind.strip(), ref=ref.strip())
        except (ValueError, ValidationError):
            raise usage_error(
                "--evidence",
                f"{item!r} is not KIND:REF with KIND one of: {', '.join(EVIDENCE_KINDS)}",
            ) from None
        found.append(evidence.model_dump(exclude_none=True))
    return found
