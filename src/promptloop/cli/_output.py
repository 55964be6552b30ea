"""Rendering shared by every command: consoles, JSON, and small cell formatters.

Consoles are made per call so they read ``NO_COLOR``, ``FORCE_COLOR`` and ``COLUMNS`` from
the environment of the invocation. Data cells are :class:`rich.text.Text`, never markup, so a
user input containing ``[bold]`` is printed as typed.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console, Group, RenderableType
from rich.text import Text

from promptloop.core.records import as_utc


def console() -> Console:
    return Console(highlight=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def titled(title: str, body: RenderableType, note: str | None = None) -> Group:
    """A bold title line, the body, an optional dim note: wrapped to the console, not the table."""
    parts: list[RenderableType] = [Text(title, style="bold"), body]
    if note:
        parts.append(Text(note, style="dim"))
    return Group(*parts)


def jsonable(value: Any) -> Any:
    """Plain JSON types; datetimes as ISO-8601 in UTC (``...Z``, as the HTTP API writes them)."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _scalar(value)


def jsonable_object(value: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`jsonable` for a mapping, typed as one."""
    return {str(key): jsonable(item) for key, item in value.items()}


def _scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def json_text(data: Any, *, indent: int | None = None) -> str:
    return json.dumps(jsonable(data), indent=indent, ensure_ascii=False)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout: no colour, no wrapping."""
    typer.echo(json_text(data, indent=2))


def text(value: Any, *, limit: int | None = None) -> Text:
    """A table cell: ``-`` for nothing, one line, cut at ``limit`` characters."""
    if value is None or value == "":
        return Text("-", style="dim")
    shown = str(jsonable(value)) if not isinstance(value, str) else value
    shown = " ".join(shown.split()) if limit else shown
    if limit and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return Text(shown)


def when(value: Any, *, seconds: bool = True) -> Text:
    """A timestamp cell in UTC, to the second (or the minute)."""
    if value is None:
        return Text("-", style="dim")
    stamp = as_utc(value) if isinstance(value, datetime) else _parse_stamp(str(value))
    if stamp is None:
        return Text(str(value))
    return Text(stamp.strftime("%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ"))


def _parse_stamp(value: str) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def rate(count: Any, total: Any) -> Text:
    """A rate with its denominator: ``12.5% (5/40)``."""
    if not total:
        return Text("-", style="dim")
    return Text(f"{100 * int(count) / int(total):.1f}% ({int(count)}/{int(total)})")


def number(value: Any, *, digits: int = 0, suffix: str = "") -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(f"{float(value):,.{digits}f}{suffix}")


def money(value: Any) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(f"${float(value):,.4f}")


def redact_url(url: str) -> str:
    """A store or collector URL safe to print: any password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{parts.username or ''}:***@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))
