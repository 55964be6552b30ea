"""Assertions with promptfoo's names and semantics, and promptfoo's way of combining them.

:func:`evaluate` applies a test's assertions to one output: each returns pass, score (0..1
for most types) and a reason; the test's score is the weighted mean of the scores, and the
test passes only when every assertion passes, unless a test-level ``threshold`` is given, in
which case it passes when the weighted score reaches it. ``not-`` inverts any type;
``assert-set`` groups assertions with their own ``threshold``, ``weight`` and ``metric``;
``metric`` names collect per-metric weighted scores (``named_scores``). ``select-best``
compares outputs across prompts or providers, so :func:`evaluate` leaves it out and the run
applies :func:`select_best` to the outputs of one test.

Types: equals, contains, icontains, contains-any, contains-all, icontains-any, icontains-all,
starts-with, regex, word-count, is-json, contains-json, levenshtein, rouge-n, similar,
latency, cost, python, llm-rubric, model-graded-closedqa, factuality, select-best;
:func:`register_assertion` adds more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from promptloop.evals.assertions import graded, metrics, script, structured, text
from promptloop.evals.assertions._registry import (
    AssertionValueError,
    Check,
    assertion_type,
    is_synchronous,
    register_assertion,
    registered_types,
    render_value,
    run_assertion,
    run_assertion_now,
)
from promptloop.evals.assertions.graded import select_best
from promptloop.evals.types import AssertionSpec, EvalContext, GradingResult

__all__ = [
    "AssertionValueError",
    "Check",
    "evaluate",
    "flatten",
    "graded",
    "metrics",
    "problems",
    "register_assertion",
    "registered_types",
    "render_value",
    "run_assertion",
    "run_assertion_now",
    "script",
    "select_best",
    "structured",
    "text",
    "unsupported_types",
]

SET_TYPE = "assert-set"
SELECT_BEST = "select-best"


async def evaluate(
    specs: Sequence[AssertionSpec], ctx: EvalContext, *, threshold: float | None = None
) -> GradingResult:
    """All assertions of one test applied to one output (model-graded ones concurrently)."""
    runnable = [spec for spec in specs if spec.base_type != SELECT_BEST]
    results: list[GradingResult | None] = [
        run_assertion_now(spec, ctx) if spec.type != SET_TYPE and is_synchronous(spec) else None
        for spec in runnable
    ]
    # Only what waits (graders, embeddings, Python checks, sets) becomes a task; a task per
    # string check would cost more than the check.
    waiting = [index for index, result in enumerate(results) if result is None]
    if len(waiting) == 1:
        results[waiting[0]] = await _apply(runnable[waiting[0]], ctx)
    elif waiting:
        done = await asyncio.gather(*(_apply(runnable[index], ctx) for index in waiting))
        for index, result in zip(waiting, done, strict=True):
            results[index] = result
    pairs = [(s, r) for s, r in zip(runnable, results, strict=True) if r is not None]
    return aggregate(pairs, threshold)


async def _apply(spec: AssertionSpec, ctx: EvalContext) -> GradingResult:
    if spec.type == SET_TYPE:
        result = await evaluate(spec.children, ctx, threshold=spec.threshold)
        result.assertion = spec
        return result
    return await run_assertion(spec, ctx)


def aggregate(
    pairs: Sequence[tuple[AssertionSpec, GradingResult]], threshold: float | None = None
) -> GradingResult:
    """promptfoo's combination: weighted mean score; pass iff all pass (or score >= threshold)."""
    if not pairs:
        return GradingResult(True, 1.0, "No assertions")
    total_weight = sum(spec.weight for spec, _ in pairs)
    weighted = sum(spec.weight * result.score for spec, result in pairs)
    score = weighted / total_weight if total_weight > 0 else 0.0
    failures = [result.reason for _, result in pairs if not result.passed]
    passed = not failures
    reason = "; ".join(failures) if failures else "All assertions passed"
    if threshold is not None:
        # A test-level threshold overrides the individual verdicts, as in promptfoo.
        passed = score >= threshold
        reason = f"Aggregate score {score:.2f} {'≥' if passed else '<'} {threshold:g} threshold"
    return GradingResult(
        passed=passed,
        score=score,
        reason=reason,
        components=[result for _, result in pairs],
        grader_tokens=sum(result.grader_tokens for _, result in pairs),
        named_scores=_named_scores(pairs),
    )


def _named_scores(pairs: Sequence[tuple[AssertionSpec, GradingResult]]) -> dict[str, float]:
    sums: dict[str, float] = {}
    weights: dict[str, float] = {}
    for spec, result in pairs:
        entries = dict(result.named_scores)
        if spec.metric:
            entries[spec.metric] = result.score
        for name, value in entries.items():
            sums[name] = sums.get(name, 0.0) + value * spec.weight
            weights[name] = weights.get(name, 0.0) + spec.weight
    return {name: (sums[name] / weights[name] if weights[name] else 0.0) for name in sums}


def flatten(result: GradingResult) -> Iterator[GradingResult]:
    """Every leaf result (assertion-set members in place of their set)."""
    if not result.components:
        yield result
        return
    for component in result.components:
        yield from flatten(component)


def _walk(specs: Sequence[AssertionSpec], prefix: str) -> Iterator[tuple[str, AssertionSpec]]:
    for index, spec in enumerate(specs):
        path = f"{prefix}[{index}]"
        yield path, spec
        if spec.type == SET_TYPE:
            yield from _walk(spec.children, f"{path}.assert")


def unsupported_types(specs: Sequence[AssertionSpec]) -> list[str]:
    """Assertion types in ``specs`` that promptloop cannot run (sorted, unique)."""
    return sorted(
        {
            spec.type
            for _, spec in _walk(specs, "assert")
            if spec.type != SET_TYPE and assertion_type(spec.type) is None
        }
    )


def problems(specs: Sequence[AssertionSpec]) -> list[str]:
    """What is wrong with ``specs`` before running them, each naming the field."""
    found = []
    for path, spec in _walk(specs, "assert"):
        if spec.type == SET_TYPE:
            if not spec.children:
                found.append(f"{path}.assert: assert-set needs at least one assertion")
            continue
        if "transform" in spec.config:
            found.append(f"{path}.transform: output transforms are not supported")
        kind = assertion_type(spec.type)
        if kind is None:
            found.append(f"{path}.type: unsupported assertion type {spec.type!r}")
        elif kind.needs_value and spec.value is None and not kind.uses_reference:
            found.append(f"{path}.value: {spec.type} needs a value")
    return found
