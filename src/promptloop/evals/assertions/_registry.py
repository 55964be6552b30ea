"""The assertion registry and what every handler shares.

A handler gets a :class:`Check`: the spec, the rendered value, the context and whether the
``not-`` prefix inverts it, and returns a :class:`GradingResult`. Handlers raise
:class:`AssertionValueError` for a bad ``value``; :func:`run_assertion` turns that (and any
other exception) into a failed result whose reason names the problem, as promptfoo does, so
one broken assertion never aborts a run.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptloop.evals.types import AssertionSpec, EvalContext, GradingResult


class AssertionValueError(ValueError):
    """An assertion's value (or threshold) cannot be used."""


@dataclass(frozen=True)
class Check:
    """One assertion applied to one output."""

    spec: AssertionSpec
    value: Any
    ctx: EvalContext
    inverse: bool

    @property
    def output(self) -> str:
        return self.ctx.output

    def binary(self, holds: bool, failure: str) -> GradingResult:
        """Pass when ``holds`` (flipped by ``not-``); score 1 or 0. ``failure`` describes the
        positive expectation ("contain 'x'") and is phrased with "not" when inverted."""
        passed = holds != self.inverse
        reason = (
            "Assertion passed"
            if passed
            else f"Expected output to {'not ' if self.inverse else ''}{failure}"
        )
        return GradingResult(passed, 1.0 if passed else 0.0, reason, assertion=self.spec)


Handler = Callable[[Check], GradingResult | Awaitable[GradingResult]]


@dataclass(frozen=True)
class AssertionType:
    """A registered assertion: its handler and what it needs."""

    name: str
    handler: Handler
    needs_value: bool = True
    model_graded: bool = False
    uses_reference: bool = False  # falls back to the context's reference when value is unset
    synchronous: bool = True  # the handler returns its result without awaiting


_REGISTRY: dict[str, AssertionType] = {}


def register_assertion(
    name: str,
    handler: Handler,
    *,
    needs_value: bool = True,
    model_graded: bool = False,
    uses_reference: bool = False,
) -> None:
    """Add (or replace) an assertion type; the built-ins are registered the same way."""
    synchronous = not inspect.iscoroutinefunction(handler)
    _REGISTRY[name] = AssertionType(
        name, handler, needs_value, model_graded, uses_reference, synchronous
    )


def assertion_type(name: str) -> AssertionType | None:
    """The registered type for ``name`` (with or without ``not-``)."""
    return _REGISTRY.get(name.removeprefix("not-"))


def registered_types() -> list[str]:
    return sorted(_REGISTRY)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")


def render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """``{{var}}`` placeholders in string values filled from the test's variables (promptfoo
    renders assertion values as templates); unknown names are left as written."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            found = _lookup(variables, match.group(1))
            if found is _MISSING:
                return match.group(0)
            return found if isinstance(found, str) else json.dumps(found)

        return _PLACEHOLDER.sub(substitute, value)
    if isinstance(value, list):
        return [render_value(item, variables) for item in value]
    if isinstance(value, Mapping):
        return {key: render_value(item, variables) for key, item in value.items()}
    return value


_MISSING = object()


def _lookup(variables: Mapping[str, Any], dotted: str) -> Any:
    current: Any = variables
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _prepare(spec: AssertionSpec, ctx: EvalContext) -> tuple[AssertionType, Check] | GradingResult:
    """The handler and its check, or the failed result when the assertion cannot run."""
    kind = assertion_type(spec.type)
    if kind is None:
        return GradingResult(False, 0.0, f"Unknown assertion type {spec.type!r}", assertion=spec)
    if "transform" in spec.config:
        # Checking the untransformed output would silently answer a different question.
        return GradingResult(
            False, 0.0, f"{spec.type}: output transforms are not supported", assertion=spec
        )
    value = spec.value
    if value is None and kind.uses_reference and ctx.reference is not None:
        value = ctx.reference
    if value is None and kind.needs_value:
        return GradingResult(
            False, 0.0, f"{spec.type}: this assertion type needs a value", assertion=spec
        )
    if isinstance(value, str) and value.startswith("file://") and kind.name not in _READS_FILES:
        try:
            value = _file_value(value, spec.config.get("base_dir"))
        except AssertionValueError as exc:
            return GradingResult(False, 0.0, f"{spec.type}: {exc}", assertion=spec)
    return kind, Check(spec, render_value(value, ctx.vars), ctx, spec.inverted)


# Types that interpret a file:// value themselves (a function, a schema).
_READS_FILES = frozenset({"python", "is-json", "contains-json"})


def _file_value(reference: str, base_dir: Any) -> Any:
    """promptfoo's ``value: file://...``: JSON and YAML files are parsed, others read as text
    (relative paths resolve against ``config.base_dir``, else the working directory)."""
    path = Path(reference.removeprefix("file://"))
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AssertionValueError(f"cannot read the value file {path}: {exc.strerror}") from exc
    try:
        if path.suffix == ".json":
            return json.loads(text)
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise AssertionValueError(f"cannot parse the value file {path}: {exc}") from exc
    return text


def _failed(spec: AssertionSpec, exc: Exception) -> GradingResult:
    if isinstance(exc, AssertionValueError):
        return GradingResult(False, 0.0, f"{spec.type}: {exc}", assertion=spec)
    # A broken custom function or grader fails the assertion only.
    return GradingResult(False, 0.0, f"{spec.type}: {type(exc).__name__}: {exc}", assertion=spec)


def _finish(spec: AssertionSpec, result: GradingResult) -> GradingResult:
    if result.assertion is None:
        result.assertion = spec
    return result


def is_synchronous(spec: AssertionSpec) -> bool:
    """Whether the assertion's handler runs without awaiting (no model, file or thread)."""
    kind = assertion_type(spec.type)
    return kind is None or kind.synchronous


def run_assertion_now(spec: AssertionSpec, ctx: EvalContext) -> GradingResult:
    """Apply a synchronous assertion (see :func:`is_synchronous`) without an event loop."""
    prepared = _prepare(spec, ctx)
    if isinstance(prepared, GradingResult):
        return prepared
    kind, check = prepared
    try:
        outcome = kind.handler(check)
    except Exception as exc:
        return _failed(spec, exc)
    if inspect.isawaitable(outcome):
        if inspect.iscoroutine(outcome):
            outcome.close()
        reason = f"{spec.type}: its handler returned an awaitable; register an async def"
        return GradingResult(False, 0.0, reason, assertion=spec)
    return _finish(spec, outcome)


async def run_assertion(spec: AssertionSpec, ctx: EvalContext) -> GradingResult:
    """Apply one (non-set) assertion; never raises."""
    prepared = _prepare(spec, ctx)
    if isinstance(prepared, GradingResult):
        return prepared
    kind, check = prepared
    try:
        outcome = kind.handler(check)
        result = await outcome if inspect.isawaitable(outcome) else outcome
    except Exception as exc:
        return _failed(spec, exc)
    return _finish(spec, result)
