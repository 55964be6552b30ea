"""``python``: a custom check written in Python, as in promptfoo.

The value is either ``file://path.py:function`` (default function ``get_assert``) or inline
code: one expression (``"Paris" in output``) or a function body with ``return``. The function
is called as ``function(output, context)``, where context holds ``prompt``, ``vars``,
``reference``, ``latency_ms``, ``cost_usd``, ``provider_id`` and the assertion's ``config``.
It may return a bool, a number (passes when > 0, or >= ``threshold`` when set) or a dict
``{"pass", "score", "reason"}``. Inline code runs in-process with the same trust as the
config file it came from.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from promptloop.evals.assertions._registry import AssertionValueError, Check, register_assertion
from promptloop.evals.providers.python import call_maybe_async, load_function
from promptloop.evals.types import GradingResult

DEFAULT_FUNCTION = "get_assert"


def compile_inline(code: str) -> Callable[[str, Mapping[str, Any]], Any]:
    """``def main(output, context)`` around an expression or a function body."""
    if "\n" in code.strip():
        body = textwrap.indent(textwrap.dedent(code), "    ")
    else:
        body = f"    return {code.strip()}"
    source = f"def main(output, context):\n{body}\n"
    namespace: dict[str, Any] = {"json": json, "re": re, "math": math}
    try:
        exec(compile(source, "<python assertion>", "exec"), namespace)  # trusted config code
    except SyntaxError as exc:
        raise AssertionValueError(f"invalid Python: {exc.msg} (line {exc.lineno})") from exc
    return namespace["main"]  # type: ignore[no-any-return]


def _function(check: Check) -> Callable[..., Any]:
    if not isinstance(check.value, str) or not check.value.strip():
        raise AssertionValueError("value must be inline Python or file://path.py:function")
    if check.value.startswith("file://"):
        base_dir = check.spec.config.get("base_dir")
        try:
            return load_function(
                check.value,
                base_dir=None if base_dir is None else Path(base_dir),
                default_function=DEFAULT_FUNCTION,
            )
        except ValueError as exc:
            raise AssertionValueError(str(exc)) from exc
    return compile_inline(check.value)


def _context(check: Check) -> dict[str, Any]:
    ctx = check.ctx
    return {
        "prompt": ctx.prompt,
        "vars": dict(ctx.vars),
        "test": {"vars": dict(ctx.vars)},
        "reference": ctx.reference,
        "latency_ms": ctx.latency_ms,
        "cost_usd": ctx.cost_usd,
        "provider_id": ctx.provider_id,
        "config": dict(check.spec.config),
    }


async def python(check: Check) -> GradingResult:
    function = _function(check)
    try:
        returned = await call_maybe_async(function, check.output, _context(check))
    except Exception as exc:
        return GradingResult(
            False,
            0.0,
            f"Python code execution failed: {type(exc).__name__}: {exc}",
            assertion=check.spec,
        )
    return normalise(check, returned)


def normalise(check: Check, returned: Any) -> GradingResult:
    """promptfoo's reading of what a Python check returned."""
    if isinstance(returned, str):
        lowered = returned.strip().lower()
        if lowered in ("true", "false"):
            returned = lowered == "true"
        elif returned.strip().startswith("{"):
            try:
                returned = json.loads(returned)
            except ValueError as exc:
                raise AssertionValueError(f"invalid JSON returned: {returned[:200]!r}") from exc
        else:
            try:
                returned = float(returned)
            except ValueError as exc:
                raise AssertionValueError(
                    f"must return a bool, a number or {{pass, score, reason}}; got {returned!r}"
                ) from exc
    if isinstance(returned, bool):
        passed = returned != check.inverse
        return _flip(check, returned, 1.0 if passed else 0.0, "Python code returned")
    if isinstance(returned, int | float):
        threshold = check.spec.threshold
        holds = returned > 0 if threshold is None else returned >= threshold
        return _flip(check, holds, float(returned), "Python code returned")
    if isinstance(returned, Mapping) and "pass" in returned:
        return _from_mapping(check, returned)
    raise AssertionValueError(
        f"must return a bool, a number or {{pass, score, reason}}; got {type(returned).__name__}"
    )


def _flip(check: Check, holds: bool, score: float, what: str) -> GradingResult:
    passed = holds != check.inverse
    reason = "Assertion passed" if passed else f"{what} {'true' if holds else 'false'}"
    if not passed and isinstance(check.value, str) and not check.value.startswith("file://"):
        reason += f"\n{check.value}"
    return GradingResult(passed, score, reason, assertion=check.spec)


def _from_mapping(check: Check, returned: Mapping[str, Any]) -> GradingResult:
    holds = bool(returned["pass"])
    raw_score = returned.get("score", 1.0 if holds else 0.0)
    if isinstance(raw_score, bool) or not isinstance(raw_score, int | float):
        raise AssertionValueError(f"returned score must be a number, got {raw_score!r}")
    score = float(raw_score)
    reason = str(returned.get("reason") or "")
    threshold = check.spec.threshold
    if threshold is not None and score < threshold:
        holds = False
        message = f"Python score {score:g} is less than threshold {threshold:g}"
        reason = f"{message}: {reason}" if reason else message
    passed = holds != check.inverse
    if passed != holds:
        reason = "Assertion passed" if passed else f"Python code returned {str(holds).lower()}"
    named = returned.get("named_scores") or returned.get("namedScores") or {}
    return GradingResult(
        passed,
        score,
        reason or ("Assertion passed" if passed else "Python check failed"),
        assertion=check.spec,
        named_scores={str(k): float(v) for k, v in dict(named).items()},
    )


register_assertion("python", python)
