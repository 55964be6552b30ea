"""OpenAI-compatible chat completions through the real ``openai`` client (``AsyncOpenAI``).

Any server that speaks ``/v1/chat/completions`` works through ``apiBaseUrl``: OpenAI, vLLM,
Ollama, llama.cpp's server, LiteLLM. Config (promptfoo names): ``apiBaseUrl`` (or
``apiHost``), ``apiKey``, ``apiKeyEnvar``, ``temperature``, ``max_tokens``, ``top_p``,
``seed``, ``stop``, ``response_format``, plus the shared call policy (see ``base``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import openai

from promptloop.evals.providers.base import (
    RETRYABLE_STATUS,
    BaseProvider,
    CallFailed,
    PerLoop,
    as_messages,
    parse_retry_after,
)
from promptloop.evals.types import ProviderRequest, ProviderResponse

# Settings passed through to the API when present in config or request settings.
CHAT_PARAMETERS = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "top_p",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
)


def _api_key(config: Mapping[str, Any], default_envar: str) -> str:
    if config.get("apiKey"):
        return str(config["apiKey"])
    envar = str(config.get("apiKeyEnvar") or default_envar)
    # Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the client insists on one.
    return os.environ.get(envar) or "not-needed"


def _status_failure(exc: openai.APIStatusError) -> CallFailed:
    status = exc.status_code
    return CallFailed(
        f"HTTP {status}: {exc.message}",
        status=status,
        retryable=status in RETRYABLE_STATUS or status >= 500,
        retry_after=parse_retry_after(dict(exc.response.headers)),
    )


class OpenAIChatProvider(BaseProvider):
    """``openai:chat:MODEL`` (and ``openai:MODEL``)."""

    kind = "openai"

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
            provider_id or f"openai:chat:{model}",
            config=config,
            label=label,
            model=model,
            cache_dir=cache_dir,
        )
        base_url = self.config.get("apiBaseUrl") or self.config.get("apiHost")
        if base_url and "://" not in str(base_url):
            base_url = f"https://{base_url}/v1"
        self.base_url: str | None = (
            str(base_url) if base_url else os.environ.get("OPENAI_BASE_URL") or None
        )
        api_key = _api_key(self.config, "OPENAI_API_KEY")
        self._client = PerLoop(
            lambda: openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=api_key,
                max_retries=0,  # retries are ours: one policy for every provider
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
        parameters = {name: settings[name] for name in CHAT_PARAMETERS if name in settings}
        model = str(settings.get("model") or self.model)
        try:
            completion = await self._client.get().chat.completions.create(
                model=model,
                messages=as_messages(request.prompt),  # type: ignore[arg-type]
                **parameters,
            )
        except openai.APIStatusError as exc:
            raise _status_failure(exc) from exc
        except openai.APITimeoutError as exc:
            raise CallFailed("request timed out", retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise CallFailed(f"connection failed: {exc}", retryable=True) from exc
        choice = completion.choices[0] if completion.choices else None
        usage = completion.usage
        return ProviderResponse(
            output=(choice.message.content or "") if choice else "",
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            raw=completion,
            model=completion.model or model,
        )


# The Responses API names some parameters differently; seed and stop do not exist there.
RESPONSES_PARAMETERS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "max_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
}


class OpenAIResponsesProvider(OpenAIChatProvider):
    """``openai:responses:MODEL``: OpenAI's Responses API (``/v1/responses``)."""

    async def _complete(self, request: ProviderRequest) -> ProviderResponse:
        settings = {**self.config, **request.settings}
        parameters = {
            target: settings[name]
            for name, target in RESPONSES_PARAMETERS.items()
            if name in settings
        }
        model = str(settings.get("model") or self.model)
        try:
            response = await self._client.get().responses.create(
                model=model,
                input=as_messages(request.prompt),  # type: ignore[arg-type]
                **parameters,
            )
        except openai.APIStatusError as exc:
            raise _status_failure(exc) from exc
        except openai.APITimeoutError as exc:
            raise CallFailed("request timed out", retryable=True) from exc
        except openai.APIConnectionError as exc:
            raise CallFailed(f"connection failed: {exc}", retryable=True) from exc
        usage = response.usage
        return ProviderResponse(
            output=response.output_text,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            raw=response,
            model=response.model or model,
        )
