"""A span as the normaliser sees it, whichever OTLP encoding it arrived in.

Attribute values are plain Python: ``str``, ``bool``, ``int``, ``float``, ``list`` (an OTLP
array) and ``dict`` (an OTLP key-value list); bytes become base64 text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUS_ERROR = 2


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class Span:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    name: str
    start_unix_nano: int
    end_unix_nano: int
    attributes: dict[str, Any]
    parent_span_id: str | None = None
    events: list[SpanEvent] = field(default_factory=list)
    status_code: int = 0
    status_message: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    _roots: frozenset[str] | None = None

    @property
    def roots(self) -> frozenset[str]:
        """The first segments of the attribute names (``gen_ai``, ``llm``, ...), computed once:
        each convention's reader skips a span that has none of its namespaces."""
        if self._roots is None:
            self._roots = frozenset(key.partition(".")[0] for key in self.attributes)
        return self._roots


@dataclass(frozen=True, slots=True)
class InvalidSpan:
    """A span that could not be read (bad IDs, bad timestamps): reported, never stored."""

    name: str
    reason: str
