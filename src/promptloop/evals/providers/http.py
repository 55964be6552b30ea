"""Any HTTP API as a provider: ``https://...`` as the id, or promptfoo's
``{"id": "https", "config": {url, method, headers, body, queryParams, transformResponse}}``.

``{{prompt}}`` and ``{{var}}`` placeholders are filled in the URL, the headers, the query
parameters and every string inside ``body`` (a mapping is sent as JSON; a string is sent
as is). ``transformResponse`` picks the output from the answer: a path such as
``json.choices[0].message.content`` or ``text``, a ``file://path.py:function`` taking
``(json, text)``, or a Python callable. Without it, a JSON string answer is the output and
any other JSON is the output as JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from promptloop.evals.providers.base import (
    RETRYABLE_STATUS,
    BaseProvider,
    CallFailed,
    PerLoop,
    parse_retry_after,
    prompt_text,
)
from promptloop.evals.providers.python import load_function
from promptloop.evals.types import ProviderRequest, ProviderResponse

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """Placeholders replaced in every string of ``template`` (unknown names stay as written)."""
    if isinstance(template, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                return match.group(0)
            value = values[name]
            return value if isinstance(value, str) else json.dumps(value)

        return _PLACEHOLDER.sub(substitute, template)
    if isinstance(template, Mapping):
        return {key: fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template


def compile_path(expression: str) -> Callable[[Any, str], Any]:
    """``json.a.b[0]['c']`` or ``text`` as a function of (parsed JSON, raw text)."""
    expression = expression.strip()
    if expression == "text":
        return lambda _parsed, text: text
    if not expression.startswith("json"):
        raise ValueError(
            "http provider config.transformResponse: expected a path starting with 'json'"
            f" (e.g. json.choices[0].message.content) or 'text', got {expression!r}"
        )
    rest = expression[len("json") :]
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        match = _PATH_STEP.match(rest, position)
        if match is None:
            raise ValueError(
                f"http provider config.transformResponse: cannot read {expression!r}"
                f" at {rest[position:]!r}"
            )
        name, index, quoted = match.groups()
        steps.append(int(index) if index is not None else (name or quoted))
        position = match.end()

    def extract(parsed: Any, _text: str) -> Any:
        value = parsed
        for step in steps:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError) as exc:
                raise CallFailed(f"transformResponse {expression!r}: no {step!r}") from exc
        return value

    return extract


def _transform(spec: Any, base_dir: Path | None) -> Callable[[Any, str], Any] | None:
    if spec is None:
        return None
    if callable(spec):
        return spec  # type: ignore[no-any-return]
    if isinstance(spec, str) and spec.startswith("file://"):
        function = load_function(spec, base_dir=base_dir, default_function="transform_response")
        return lambda parsed, text: function(parsed, text)
    if isinstance(spec, str):
        return compile_path(spec)
    raise ValueError("http provider config.transformResponse: expected a string or a callable")


class HttpProvider(BaseProvider):
    kind = "http"

    def __init__(
        self,
        *,
        provider_id: str,
        config: Mapping[str, Any],
        label: str | None = None,
        cache_dir: Path | None = None,
        base_dir: Path | None = None,
    ) -> None:
        super().__init__(provider_id, config=config, label=label, cache_dir=cache_dir)
        url = self.config.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("http provider config.url: required, an http:// or https:// URL")
        self.url = url
        self.method = str(self.config.get("method", "POST")).upper()
        headers = self.config.get("headers", {})
        if not isinstance(headers, Mapping):
            raise ValueError("http provider config.headers: expected a mapping")
        self.headers = dict(headers)
        self.transform = _transform(
            self.config.get("transformResponse", self.config.get("responseParser")), base_dir
        )
        self._client = PerLoop(lambda: httpx.AsyncClient(timeout=self.policy.timeout_s))

    def identity(self) -> dict[str, Any]:
        identity = super().identity()
        identity["config"].pop("transformResponse", None)
        return identity

    async def aclose(self) -> None:
        client = self._client.pop()
        if client is not None:
            await client.aclose()

    async def _complete(self, request: ProviderRequest) -> ProviderResponse:
        values = {**request.vars, "prompt": prompt_text(request.prompt)}
        body = fill(self.config.get("body"), values)
        arguments: dict[str, Any] = {
            "headers": fill(self.headers, values),
            "params": fill(self.config.get("queryParams"), values),
        }
        if self.method not in ("GET", "HEAD") and body is not None:
            if isinstance(body, str):
                arguments["content"] = body.encode("utf-8")
            else:
                arguments["json"] = body
        try:
            answer = await self._client.get().request(
                self.method, fill(self.url, values), **arguments
            )
        except httpx.TimeoutException as exc:
            raise CallFailed("request timed out", retryable=True) from exc
        except httpx.TransportError as exc:
            raise CallFailed(f"connection failed: {exc}", retryable=True) from exc
        if answer.status_code >= 400:
            raise CallFailed(
                f"HTTP {answer.status_code}: {answer.text[:200]}",
                status=answer.status_code,
                retryable=answer.status_code in RETRYABLE_STATUS or answer.status_code >= 500,
                retry_after=parse_retry_after(dict(answer.headers)),
            )
        return ProviderResponse(output=self._output(answer), raw=answer.text)

    def _output(self, answer: httpx.Response) -> str:
        text = answer.text
        try:
            parsed: Any = answer.json()
        except ValueError:
            parsed = None
        if self.transform is not None:
            try:
                value = self.transform(parsed, text)
            except CallFailed:
                raise
            except Exception as exc:
                raise CallFailed(f"transformResponse failed: {exc}") from exc
        else:
            value = parsed if parsed is not None else text
        if isinstance(value, dict) and "output" in value and self.transform is not None:
            value = value["output"]
        return value if isinstance(value, str) else json.dumps(value)
