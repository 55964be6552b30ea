"""Providers: what turns a rendered prompt into an answer, named as promptfoo names them.

- ``openai:chat:MODEL``, ``openai:MODEL``: any OpenAI-compatible chat endpoint (``apiBaseUrl``)
- ``openai:responses:MODEL``: OpenAI's Responses API
- ``anthropic:messages:MODEL``, ``anthropic:MODEL``: Anthropic's Messages API
- ``echo``: the prompt back, for dry runs
- ``http://...``, ``https://...`` or ``id: https``: any HTTP API (``url``, ``body``,
  ``transformResponse``)
- ``python:file.py:func``, ``file://file.py:func``: a Python function (promptfoo's ``call_api``)
- a Python callable: called directly

:func:`load_provider` accepts an id, promptfoo's ``{"id", "config", "label"}`` mapping, a
callable or a ready provider. :func:`register_provider` adds a prefix; the built-ins use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptloop.evals.providers.base import BaseProvider, CallFailed, CallPolicy, CallStats
from promptloop.evals.providers.pricing import PRICES, Price, price_for
from promptloop.evals.types import Provider

__all__ = [
    "PRICES",
    "BaseProvider",
    "CallFailed",
    "CallPolicy",
    "CallStats",
    "Price",
    "ProviderContext",
    "load_provider",
    "price_for",
    "register_provider",
    "supported_provider",
]


@dataclass(frozen=True)
class ProviderContext:
    """What a provider factory gets besides the id: config, label and where files live."""

    provider_id: str
    rest: str  # the id after its registered prefix ("gpt-4o-mini" for "openai:gpt-4o-mini")
    config: Mapping[str, Any]
    label: str | None
    cache_dir: Path | None
    base_dir: Path | None


Factory = Callable[[ProviderContext], Provider]
_FACTORIES: dict[str, Factory] = {}


def register_provider(prefix: str, factory: Factory) -> None:
    """Make ids starting with ``prefix`` (e.g. ``"mycorp:"``) load through ``factory``."""
    _FACTORIES[prefix] = factory


def _model(context: ProviderContext, kinds: tuple[str, ...], family: str) -> str:
    kind, sep, model = context.rest.partition(":")
    if (not sep and context.rest in (*kinds, "")) or (kind in kinds and not model):
        raise ValueError(
            f"provider.id {context.provider_id!r}: name a model"
            f" ({family}:{kinds[0]}:MODEL or {family}:MODEL)"
        )
    if not sep:
        return context.rest  # "openai:gpt-4o-mini"
    if kind in kinds and model:
        return model
    raise ValueError(
        f"provider.id {context.provider_id!r}: unsupported {family} provider type {kind!r}"
        f" (supported: {', '.join(kinds)})"
    )


def _openai(context: ProviderContext) -> Provider:
    from promptloop.evals.providers.openai import OpenAIChatProvider, OpenAIResponsesProvider

    model = _model(context, ("chat", "responses"), "openai")
    responses = context.rest.startswith("responses:")
    return (OpenAIResponsesProvider if responses else OpenAIChatProvider)(
        model,
        provider_id=context.provider_id,
        config=context.config,
        label=context.label,
        cache_dir=context.cache_dir,
    )


def _anthropic(context: ProviderContext) -> Provider:
    from promptloop.evals.providers.anthropic import AnthropicMessagesProvider

    return AnthropicMessagesProvider(
        _model(context, ("messages",), "anthropic"),
        provider_id=context.provider_id,
        config=context.config,
        label=context.label,
        cache_dir=context.cache_dir,
    )


def _echo(context: ProviderContext) -> Provider:
    from promptloop.evals.providers.echo import EchoProvider

    return EchoProvider(
        context.provider_id,
        config=context.config,
        label=context.label,
        cache_dir=context.cache_dir,
    )


def _http(context: ProviderContext) -> Provider:
    from promptloop.evals.providers.http import HttpProvider

    config = dict(context.config)
    if context.provider_id.startswith(("http://", "https://")):
        config.setdefault("url", context.provider_id)
    return HttpProvider(
        provider_id=context.provider_id,
        config=config,
        label=context.label,
        cache_dir=context.cache_dir,
        base_dir=context.base_dir,
    )


def _python(context: ProviderContext) -> Provider:
    from promptloop.evals.providers.python import DEFAULT_FUNCTION, PythonProvider, load_function

    function = load_function(
        context.rest, base_dir=context.base_dir, default_function=DEFAULT_FUNCTION
    )
    return PythonProvider(
        function,
        provider_id=context.provider_id,
        config=context.config,
        label=context.label,
        cache_dir=context.cache_dir,
    )


for _prefix, _factory in (
    ("openai:", _openai),
    ("anthropic:", _anthropic),
    ("echo", _echo),
    ("http://", _http),
    ("https://", _http),
    ("python:", _python),
    ("file://", _python),
):
    register_provider(_prefix, _factory)


def _factory_for(provider_id: str) -> tuple[Factory, str] | None:
    if provider_id in ("http", "https", "webhook"):
        return _http, ""
    matches = [prefix for prefix in _FACTORIES if provider_id.startswith(prefix)]
    if not matches:
        return None
    prefix = max(matches, key=len)
    if prefix == "echo" and provider_id != "echo":
        return None
    rest = provider_id if prefix in ("http://", "https://") else provider_id[len(prefix) :]
    return _FACTORIES[prefix], rest


def supported_provider(provider_id: str) -> bool:
    """Whether :func:`load_provider` knows how to build ``provider_id``."""
    return _factory_for(provider_id) is not None


def load_provider(
    spec: str | Mapping[str, Any] | Callable[..., Any] | Provider,
    *,
    cache_dir: Path | None = None,
    base_dir: Path | None = None,
) -> Provider:
    """A provider from an id, a promptfoo provider mapping, a callable or a provider.

    ``cache_dir`` turns on the on-disk response cache; ``base_dir`` is where relative file
    paths (``python:x.py:f``, ``file://``) resolve (default: the working directory).
    Bad input raises ``ValueError`` naming the field.
    """
    if isinstance(spec, BaseProvider) or (
        not isinstance(spec, str | Mapping) and isinstance(spec, Provider)
    ):
        return spec
    if isinstance(spec, str):
        return _build(spec, {}, None, cache_dir, base_dir)
    if isinstance(spec, Mapping):
        provider_id, config, label = _read_mapping(spec)
        return _build(provider_id, config, label, cache_dir, base_dir)
    if callable(spec):
        from promptloop.evals.providers.python import PythonProvider

        name = getattr(spec, "__qualname__", None) or type(spec).__name__
        return PythonProvider(spec, provider_id=f"python:{name}", cache_dir=cache_dir)
    kind = type(spec).__name__
    raise ValueError(f"provider: expected an id, a mapping or a callable, got {kind}")


_OPTION_KEYS = frozenset({"config", "label", "transform", "delay", "env", "prompts"})


def _read_mapping(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], str | None]:
    if "id" not in spec and len(spec) == 1 and not set(spec) & _OPTION_KEYS:
        # promptfoo's short form: {"openai:gpt-4o-mini": {"config": {...}}}
        ((short_id, options),) = spec.items()
        spec = {"id": short_id, **(options if isinstance(options, Mapping) else {})}
    provider_id = spec.get("id")
    if not isinstance(provider_id, str) or not provider_id:
        raise ValueError("provider.id: required, a provider id such as 'openai:chat:gpt-4o-mini'")
    config = spec.get("config", {}) or {}
    if not isinstance(config, Mapping):
        raise ValueError("provider.config: expected a mapping")
    label = spec.get("label")
    if label is not None and not isinstance(label, str):
        raise ValueError("provider.label: expected a string")
    return provider_id, config, label


def _build(
    provider_id: str,
    config: Mapping[str, Any],
    label: str | None,
    cache_dir: Path | None,
    base_dir: Path | None,
) -> Provider:
    found = _factory_for(provider_id.strip())
    if found is None:
        known = ", ".join(sorted(_FACTORIES))
        raise ValueError(f"provider.id {provider_id!r}: unsupported provider (supported: {known})")
    factory, rest = found
    context = ProviderContext(provider_id.strip(), rest, config, label, cache_dir, base_dir)
    return factory(context)
