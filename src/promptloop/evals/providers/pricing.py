"""What a call costs: a small table of list prices per million tokens, overridable per provider.

Prices are USD per 1,000,000 tokens (input, output) as published by OpenAI and Anthropic in
2025. A model matches the longest table key its name starts with, so dated snapshots
(``gpt-4o-mini-2024-07-18``, ``claude-3-5-haiku-20241022``) find their family. A model that is
not in the table has no cost (``None``), never a guessed one. Override per provider in its
config with ``cost_per_million: {input: ..., output: ...}``, or promptfoo's per-token
``inputCost`` / ``outputCost`` / ``cost``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if input_tokens is None and output_tokens is None:
            return None
        spent = (input_tokens or 0) * self.input_per_million
        spent += (output_tokens or 0) * self.output_per_million
        return spent / 1_000_000


PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "o1": Price(15.00, 60.00),
    "claude-3-haiku": Price(0.25, 1.25),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-opus-4": Price(15.00, 75.00),
}


def price_for(model: str | None, config: Mapping[str, Any] | None = None) -> Price | None:
    """The price of ``model``: the config's override first, then the table, else None."""
    override = _override(config or {})
    if override is not None:
        return override
    if not model:
        return None
    matches = [key for key in PRICES if model.startswith(key)]
    return PRICES[max(matches, key=len)] if matches else None


def _override(config: Mapping[str, Any]) -> Price | None:
    per_million = config.get("cost_per_million")
    if isinstance(per_million, Mapping):
        return Price(
            _number(per_million.get("input", 0), "cost_per_million.input"),
            _number(per_million.get("output", 0), "cost_per_million.output"),
        )
    if any(key in config for key in ("inputCost", "outputCost", "cost")):
        both = config.get("cost")
        per_input = config.get("inputCost", both if both is not None else 0)
        per_output = config.get("outputCost", both if both is not None else 0)
        return Price(
            _number(per_input, "inputCost") * 1_000_000,
            _number(per_output, "outputCost") * 1_000_000,
        )
    return None


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"provider config {name}: expected a number >= 0, got {value!r}")
    return float(value)
