"""Anthropic's Messages API through the real ``anthropic`` client (``AsyncAnthropic``).

Config: ``apiBaseUrl``, ``apiKey``, ``apiKeyEnvar`` (default ``ANTHROPIC_API_KEY``),
``temperature``, ``max_tokens`` (default 1024; the API requires one), ``top_p``, ``top_k``,
``stop_sequences`` (``seed`` is not an Anthropic parameter and is not sent). System messages
of a chat prompt become the ``system`` parameter.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anthropic

from promptloop.evals.providers.base import (
    RETRYABLE_STATUS,
    BaseProvider,
    CallFailed,
    PerLoop,
    as_messages,
    parse_retry_after,
)
from promptloop.evals.providers.openai import _api_key
from promptloop.evals.types import ProviderRequest, ProviderResponse

DEFAULT_MAX_TOKENS = 1024
MESSAGE_PARAMETERS = ("temperature", "top_p", "top_k", "stop_sequences")
_CREATE_PARAMETERS = frozenset(
    inspect.signature(anthropic.resources.messages.AsyncMessages.create).parameters
)


class AnthropicMessagesProvider(BaseProvider):
    """``anthropic:messages:MODEL`` (and ``anthropic:MODEL``)."""

    kind = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        provider_id: str | None = None,
        config: Mapping[str, Any] | None = None,
        label: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__(
            provider_id or f"anthropic:messages:{model}",
            config=config,
            label=label,
            model=model,
            cache_dir=cache_dir,
        )
        base_url = self.config.get("apiBaseUrl")
        self.base_url: str | None = str(base_url) if base_url else None
        api_key = _api_key(self.config, "ANTHROPIC_API_KEY")
        self._client = PerLoop(
            lambda: anthropic.AsyncAnthropic(
                base_url=self.base_url,
                api_key=api_key,
                max_retries=0,
                timeout=self.policy.timeout_s,
            )
        )

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "base_url": self.base_url}

    async def aclose(self) -> None:
        client = self._client.pop()
        if client is not None:
            await client.close()

    async def _complete(self, request: ProviderRequest) -> ProviderResponse:
        settings = {**self.config, **request.settings}
        messages = as_messages(request.prompt)
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        sampling = {name: settings[name] for name in MESSAGE_PARAMETERS if name in settings}
        # Client releases differ in which sampling parameters they name in their signature;
        # the API accepts them all, so those the client does not name travel in extra_body.
        named = {k: v for k, v in sampling.items() if k in _CREATE_PARAMETERS}
        extra = {k: v for k, v in sampling.items() if k not in _CREATE_PARAMETERS}
        parameters: dict[str, Any] = dict(named)
        if extra:
            parameters["extra_body"] = extra
        if system:
            parameters["system"] = system
        model = str(settings.get("model") or self.model)
        try:
            message = await self._client.get().messages.create(
                model=model,
                max_tokens=int(settings.get("max_tokens", DEFAULT_MAX_TOKENS)),
                messages=turns,  # type: ignore[arg-type]
                **parameters,
            )
        except anthropic.APIStatusError as exc:
            status = exc.status_code
            raise CallFailed(
                f"HTTP {status}: {exc.message}",
                status=status,
                retryable=status in RETRYABLE_STATUS or status >= 500,
                retry_after=parse_retry_after(dict(exc.response.headers)),
            ) from exc
        except anthropic.APITimeoutError as exc:
            raise CallFailed("request timed out", retryable=True) from exc
        except anthropic.APIConnectionError as exc:
            raise CallFailed(f"connection failed: {exc}", retryable=True) from exc
        text = "".join(block.text for block in message.content if block.type == "text")
        return ProviderResponse(
            output=text,
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            raw=message,
            model=message.model or model,
        )
