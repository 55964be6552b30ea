"""latency, cost and similar.

``latency`` and ``cost`` pass when the measured value is at most ``threshold`` (ms, USD);
without a threshold they need a ``metric`` and record the raw value as the score, as in
promptfoo. ``similar`` passes when the cosine similarity of the output's and the value's
embeddings reaches ``threshold`` (default 0.75); a list value passes when any item does. The
embedder is the assertion's ``provider`` (``openai:embedding:MODEL``), else the context's,
else the offline default (:mod:`promptloop.evals.embed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptloop.evals.assertions._registry import AssertionValueError, Check, register_assertion
from promptloop.evals.embed import cosine, embed, from_analytics
from promptloop.evals.types import GradingResult

DEFAULT_SIMILARITY_THRESHOLD = 0.75


def _bounded(check: Check, measured: float | None, what: str, unit: str) -> GradingResult:
    if measured is None:
        raise AssertionValueError(f"no {what} was recorded for this output")
    threshold = check.spec.threshold
    if threshold is None:
        if check.inverse:
            raise AssertionValueError(f"not-{what} needs a threshold")
        if not check.spec.metric:
            raise AssertionValueError(f"without a threshold, set `metric` to record the {what}")
        return GradingResult(True, measured, "Assertion passed", assertion=check.spec)
    passed = (measured <= threshold) != check.inverse
    if passed:
        reason = "Assertion passed"
    else:
        relation = "less than or equal to" if check.inverse else "greater than"
        reason = (
            f"{what.capitalize()} {measured:g}{unit} is {relation} threshold {threshold:g}{unit}"
        )
    return GradingResult(passed, 1.0 if passed else 0.0, reason, assertion=check.spec)


_EMBEDDING_PREFIXES = ("openai:embedding:", "openai:embeddings:")


def embedder_for(provider: Any) -> Any:
    """An embedder from the assertion's ``provider`` (promptfoo's ``openai:embedding:MODEL``,
    with ``apiBaseUrl``/``apiKey`` config for any OpenAI-compatible server), an embedder
    object itself, or None to use the context's."""
    if provider is None:
        return None
    provider_id: Any = provider
    config: Mapping[str, Any] = {}
    if isinstance(provider, Mapping):
        provider_id, config = provider.get("id"), provider.get("config") or {}
    if isinstance(provider_id, str):
        if not provider_id.startswith(_EMBEDDING_PREFIXES):
            raise AssertionValueError(
                f"provider {provider_id!r}: similar needs an embedding provider"
                " (openai:embedding:MODEL)"
            )
        return from_analytics(
            "openai",
            model=provider_id.split(":", 2)[2],
            base_url=config.get("apiBaseUrl"),
            api_key=config.get("apiKey"),
        )
    return provider


def latency(check: Check) -> GradingResult:
    return _bounded(check, check.ctx.latency_ms, "latency", "ms")


def cost(check: Check) -> GradingResult:
    return _bounded(check, check.ctx.cost_usd, "cost", "")


async def similar(check: Check) -> GradingResult:
    references = check.value if isinstance(check.value, list) else [check.value]
    if not references or not all(isinstance(item, str) and item for item in references):
        raise AssertionValueError("value must be a non-empty string or a list of strings")
    threshold = (
        check.spec.threshold if check.spec.threshold is not None else DEFAULT_SIMILARITY_THRESHOLD
    )
    embedder = embedder_for(check.spec.provider) or check.ctx.embedder
    vectors = await embed(embedder, [check.output, *references])
    similarities = [cosine(vectors[0], vector) for vector in vectors[1:]]
    best = max(similarities)
    if check.inverse:
        # not-similar: dissimilar to every value; the score is the tightest margin.
        passed = best < threshold
        return GradingResult(
            passed,
            1 - best,
            f"Similarity {best:.2f} is {'below' if passed else 'at or above'}"
            f" threshold {threshold:g}",
            assertion=check.spec,
        )
    passed = best >= threshold
    return GradingResult(
        passed,
        best,
        f"Similarity {best:.2f} is {'at or above' if passed else 'below'} threshold {threshold:g}",
        assertion=check.spec,
    )


register_assertion("latency", latency, needs_value=False)
register_assertion("cost", cost, needs_value=False)
register_assertion("similar", similar, uses_reference=True)
