"""``echo``: answers with the prompt itself. Free, instant and deterministic: for dry runs,
for testing assertions and for checking what a template renders to."""

from __future__ import annotations

from promptloop.evals.providers.base import BaseProvider, prompt_text
from promptloop.evals.types import ProviderRequest, ProviderResponse


class EchoProvider(BaseProvider):
    kind = "echo"

    async def _complete(self, request: ProviderRequest) -> ProviderResponse:
        text = prompt_text(request.prompt)
        return ProviderResponse(output=text, input_tokens=0, output_tokens=0, cost_usd=0.0)
