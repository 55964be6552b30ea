"""The evaluation engine's shared vocabulary: provider calls, assertion specs, grading results.

Everything else in :mod:`promptloop.evals` (assertions, providers, judge, datasets, runs) speaks
in these types, so they stay small, plain and stable: fields may be added, never renamed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

ChatMessages = list[dict[str, str]]


@dataclass(frozen=True)
class ProviderRequest:
    """One call to a model: a rendered prompt (or chat messages) plus its variables and settings."""

    prompt: str | ChatMessages
    vars: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Repeats measure non-determinism, so a repeat index > 0 always reaches the model.
    repeat: int = 0


@dataclass
class ProviderResponse:
    """What a provider answered, with its accounting; ``error`` is set instead of raising."""

    output: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float = 0.0
    cached: bool = False
    error: str | None = None
    raw: Any = None
    model: str | None = None


@runtime_checkable
class Provider(Protocol):
    """Anything that turns a :class:`ProviderRequest` into a :class:`ProviderResponse`."""

    id: str
    label: str

    async def call(self, request: ProviderRequest) -> ProviderResponse: ...


_SPEC_KEYS = frozenset(
    {"type", "value", "threshold", "weight", "metric", "provider", "config", "assert", "transform"}
)


@dataclass
class AssertionSpec:
    """One promptfoo-style assertion (``type`` may carry the ``not-`` prefix)."""

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None
    provider: Any = None
    config: dict[str, Any] = field(default_factory=dict)
    children: list[AssertionSpec] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssertionSpec:
        """Read promptfoo's YAML shape; raise ``ValueError`` naming the offending field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"assertion: expected a mapping, got {type(data).__name__}")
        kind = data.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise ValueError("assertion.type: required, a non-empty string")
        config = data.get("config", {}) or {}
        if not isinstance(config, Mapping):
            raise ValueError("assertion.config: expected a mapping")
        children_raw = data.get("assert", []) or []
        if not isinstance(children_raw, list):
            raise ValueError("assertion.assert: expected a list of assertions")
        if kind == "assert-set" and not children_raw:
            raise ValueError("assertion.assert: assert-set needs at least one assertion")
        children = []
        for index, child in enumerate(children_raw):
            try:
                children.append(cls.from_dict(child))
            except ValueError as exc:
                raise ValueError(f"assertion.assert[{index}].{exc}") from exc
        metric = data.get("metric")
        if metric is not None and not isinstance(metric, str):
            raise ValueError("assertion.metric: expected a string")
        extra = {key: data[key] for key in data if key not in _SPEC_KEYS}
        merged = {**extra, **dict(config)}
        if "transform" in data:
            merged["transform"] = data["transform"]
        return cls(
            type=kind.strip(),
            value=data.get("value"),
            threshold=_optional_number(data.get("threshold"), "threshold"),
            weight=_weight(data.get("weight", 1.0)),
            metric=metric,
            provider=data.get("provider"),
            config=merged,
            children=children,
        )

    @property
    def inverted(self) -> bool:
        """True for ``not-`` assertions."""
        return self.type.startswith("not-")

    @property
    def base_type(self) -> str:
        """The type without its ``not-`` prefix."""
        return self.type.removeprefix("not-")


def _optional_number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"assertion.{name}: expected a number, got {value!r}")
    return float(value)


def _weight(value: Any) -> float:
    weight = _optional_number(value, "weight")
    if weight is None or weight < 0:
        raise ValueError(f"assertion.weight: expected a number >= 0, got {value!r}")
    return weight


@dataclass
class EvalContext:
    """Everything an assertion may look at for one output."""

    output: str
    vars: Mapping[str, Any]
    prompt: str
    reference: str | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    provider_id: str | None = None
    grader: Provider | None = None
    embedder: Any = None


@dataclass
class GradingResult:
    """Pass, score (0..1) and a reason; nested results for aggregates and assert-sets."""

    passed: bool
    score: float
    reason: str
    assertion: AssertionSpec | None = None
    components: list[GradingResult] = field(default_factory=list)
    grader_tokens: int = 0
    # Which judge produced this verdict (model, temperature, seed), for model-graded types.
    judge: dict[str, Any] | None = None
    named_scores: dict[str, float] = field(default_factory=dict)
