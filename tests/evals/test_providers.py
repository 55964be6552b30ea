"""Providers against a scripted server on 127.0.0.1, through the real openai/anthropic clients.

Retries, Retry-After, timeouts and the concurrency limit are observed from the server side
(what it received and how many requests it was handling at once) and from the provider's
recorded waits, never from wall-clock measurements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptloop.evals.providers import BaseProvider, load_provider, price_for
from promptloop.evals.types import ProviderRequest, ProviderResponse
from tests.support.fake_llm import FakeLLM


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def _openai(fake: FakeLLM, model: str = "gpt-4o-mini", **config: Any) -> BaseProvider:
    provider = load_provider(
        {
            "id": f"openai:chat:{model}",
            "config": {"apiBaseUrl": fake.openai_url, "apiKey": "test", **config},
        }
    )
    assert isinstance(provider, BaseProvider)
    return provider


def _anthropic(fake: FakeLLM, **config: Any) -> BaseProvider:
    provider = load_provider(
        {
            "id": "anthropic:messages:claude-3-5-haiku-20241022",
            "config": {"apiBaseUrl": fake.anthropic_url, "apiKey": "test", **config},
        }
    )
    assert isinstance(provider, BaseProvider)
    return provider


async def test_openai_chat_answer_tokens_cost_and_settings(fake: FakeLLM) -> None:
    fake.reply("Paris.", input_tokens=12, output_tokens=3)
    provider = _openai(fake, temperature=0.1)
    response = await provider.call(
        ProviderRequest(prompt="Capital of France?", settings={"max_tokens": 50, "seed": 3})
    )
    assert response.error is None and response.output == "Paris."
    assert (response.input_tokens, response.output_tokens) == (12, 3)
    assert response.cost_usd == pytest.approx((12 * 0.15 + 3 * 0.60) / 1e6)
    assert response.latency_ms > 0 and not response.cached
    path, body = fake.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0.1, 50, 3)
    assert provider.stats.cost_usd == response.cost_usd


async def test_openai_chat_messages_and_promptfoo_json_chat_prompts(fake: FakeLLM) -> None:
    provider = _openai(fake)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    await provider.call(ProviderRequest(prompt=messages))
    assert fake.requests[-1][1]["messages"] == messages
    await provider.call(ProviderRequest(prompt='[{"role": "user", "content": "From a file"}]'))
    assert fake.requests[-1][1]["messages"] == [{"role": "user", "content": "From a file"}]


async def test_openai_responses_api(fake: FakeLLM) -> None:
    fake.reply("Via responses.", input_tokens=9, output_tokens=2)
    provider = load_provider(
        {
            "id": "openai:responses:gpt-4.1-mini",
            "config": {"apiBaseUrl": fake.openai_url, "apiKey": "t", "max_tokens": 30},
        }
    )
    response = await provider.call(ProviderRequest(prompt="Hi", settings={"temperature": 0}))
    assert response.error is None and response.output == "Via responses."
    assert response.cost_usd == pytest.approx((9 * 0.40 + 2 * 1.60) / 1e6)
    path, body = fake.requests[-1]
    assert path == "/v1/responses"
    assert (body["max_output_tokens"], body["temperature"]) == (30, 0)
    assert body["input"] == [{"role": "user", "content": "Hi"}]


async def test_price_overrides_and_unknown_models(fake: FakeLLM) -> None:
    priced = _openai(fake, "my-local-llama", cost_per_million={"input": 1.0, "output": 2.0})
    response = await priced.call(ProviderRequest(prompt="x"))
    assert response.cost_usd == pytest.approx((11 * 1.0 + 7 * 2.0) / 1e6)
    per_token = _openai(fake, "my-local-llama", inputCost=0.000001, outputCost=0.000002)
    response = await per_token.call(ProviderRequest(prompt="x"))
    assert response.cost_usd == pytest.approx((11 * 1.0 + 7 * 2.0) / 1e6)
    unknown = await _openai(fake, "my-local-llama").call(ProviderRequest(prompt="x"))
    assert unknown.cost_usd is None  # not in the table: no guessed price
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini")
    assert price_for("gpt-4o-2024-08-06") != price_for("gpt-4o-mini")


async def test_anthropic_messages_system_tokens_and_cost(fake: FakeLLM) -> None:
    fake.reply("Bonjour.", input_tokens=20, output_tokens=4)
    provider = _anthropic(fake, temperature=0.0)
    prompt = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hi"}]
    response = await provider.call(ProviderRequest(prompt=prompt, settings={"max_tokens": 64}))
    assert response.output == "Bonjour." and (response.input_tokens, response.output_tokens) == (
        20,
        4,
    )
    assert response.cost_usd == pytest.approx((20 * 0.80 + 4 * 4.00) / 1e6)
    path, body = fake.requests[-1]
    assert path == "/v1/messages"
    assert body["system"] == "Answer in French."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert (body["max_tokens"], body["temperature"]) == (64, 0.0)


async def test_429_waits_as_long_as_retry_after_says(fake: FakeLLM) -> None:
    # Backoff alone would wait at least 15 s: the 0.05 s recorded can only come from the header.
    provider = _openai(fake, backoff_base=30, backoff_max=60)
    fake.fail(429, "slow down", retry_after="0.05")
    fake.reply("finally")
    response = await provider.call(ProviderRequest(prompt="x"))
    assert response.error is None and response.output == "finally"
    assert provider.stats.waits_s == [0.05] and provider.stats.retries == 1
    assert len(fake.requests) == 2


async def test_5xx_retries_back_off_exponentially_with_jitter(fake: FakeLLM) -> None:
    provider = _anthropic(fake, backoff_base=0.01)
    fake.fail(500)
    fake.fail(503)
    fake.fail(529, "overloaded")
    fake.reply("ok")
    response = await provider.call(ProviderRequest(prompt="x"))
    assert response.output == "ok" and len(fake.requests) == 4
    # Attempt k waits between half and all of base * 2**k.
    for attempt, wait in enumerate(provider.stats.waits_s):
        ceiling = 0.01 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling
    assert len(provider.stats.waits_s) == 3


async def test_retries_give_up_with_an_error_not_an_exception(fake: FakeLLM) -> None:
    provider = _openai(fake, max_retries=1, backoff_base=0.001)
    fake.fail(502)
    fake.fail(502)
    response = await provider.call(ProviderRequest(prompt="x"))
    assert response.output == "" and response.error is not None
    assert "HTTP 502" in response.error and "after 2 attempts" in response.error
    assert provider.stats.errors == 1


async def test_client_errors_are_not_retried(fake: FakeLLM) -> None:
    provider = _openai(fake, backoff_base=0.001)
    fake.fail(400, "bad model")
    response = await provider.call(ProviderRequest(prompt="x"))
    assert response.error is not None and "HTTP 400" in response.error
    assert len(fake.requests) == 1 and provider.stats.retries == 0


async def test_timeouts_end_the_call(fake: FakeLLM) -> None:
    fake.hold_in_groups(99)  # the server holds the request until it closes
    provider = _openai(fake, timeout=0.3, max_retries=0)
    response = await provider.call(ProviderRequest(prompt="x"))
    assert response.error is not None and "timed out" in response.error


@pytest.mark.parametrize(("limit", "calls"), [(1, 3), (2, 6), (3, 6)])
async def test_concurrency_limit_bounds_requests_in_flight(
    fake: FakeLLM, limit: int, calls: int
) -> None:
    # Requests are held until `limit` of them are at the server together, so the server sees
    # exactly `limit` at once when the limit works, and more when it does not.
    fake.hold_in_groups(limit)
    provider = _openai(fake, concurrency=limit)
    responses = await asyncio.gather(
        *(provider.call(ProviderRequest(prompt=f"q{i}")) for i in range(calls))
    )
    assert all(r.error is None for r in responses)
    assert fake.max_in_flight == limit
    assert len(fake.requests) == calls


async def test_without_a_limit_the_server_sees_them_all_at_once(fake: FakeLLM) -> None:
    fake.hold_in_groups(5)
    provider = _openai(fake, concurrency=100)
    await asyncio.gather(*(provider.call(ProviderRequest(prompt=f"q{i}")) for i in range(5)))
    assert fake.max_in_flight == 5  # the measurement can see more than the limit


async def test_http_provider_templates_the_body_and_picks_the_output(fake: FakeLLM) -> None:
    fake.reply("From HTTP.")
    provider = load_provider(
        {
            "id": "https",
            "label": "my api",
            "config": {
                "url": f"{fake.openai_url}/chat/completions",
                "method": "POST",
                "headers": {"Authorization": "Bearer {{token}}"},
                "body": {
                    "model": "house-model",
                    "messages": [{"role": "user", "content": "{{prompt}}"}],
                    "user": "{{user}}",
                },
                "transformResponse": "json.choices[0].message.content",
                "backoff_base": 0.001,
            },
        }
    )
    assert provider.label == "my api"
    request = ProviderRequest(prompt='Say "hi"', vars={"user": "u-1", "token": "t"})
    response = await provider.call(request)
    assert response.error is None and response.output == "From HTTP."
    body = fake.requests[-1][1]
    assert body["messages"][0]["content"] == 'Say "hi"' and body["user"] == "u-1"
    fake.fail(503)
    fake.reply("again")
    assert (await provider.call(ProviderRequest(prompt="p2"))).output == "again"


async def test_http_provider_from_a_bare_url_returns_json_text(fake: FakeLLM) -> None:
    provider = load_provider(f"{fake.openai_url}/chat/completions")
    response = await provider.call(ProviderRequest(prompt="x"))
    assert response.error is None and '"chat.completion"' in response.output


async def test_python_file_provider_follows_promptfoos_call_api(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text(
        "def call_api(prompt, options, context):\n"
        "    return {'output': prompt.upper() + context['vars']['suffix'],\n"
        "            'tokenUsage': {'prompt': 5, 'completion': 2}, 'cost': 0.5}\n"
        "def broken(prompt, options, context):\n"
        "    raise RuntimeError('model offline')\n",
        encoding="utf-8",
    )
    provider = load_provider("python:bot.py", base_dir=tmp_path)
    response = await provider.call(ProviderRequest(prompt="hi", vars={"suffix": "!"}))
    assert (response.output, response.input_tokens, response.output_tokens) == ("HI!", 5, 2)
    assert response.cost_usd == 0.5
    broken = load_provider(f"file://{tmp_path}/bot.py:broken")
    failed = await broken.call(ProviderRequest(prompt="hi"))
    assert failed.error is not None and "RuntimeError: model offline" in failed.error
    assert broken.stats.retries == 0  # an exception in user code is not retried


async def test_python_callables_sync_and_async() -> None:
    def takes_request(request: ProviderRequest) -> ProviderResponse:
        return ProviderResponse(output=f"{request.prompt}:{request.settings.get('temperature')}")

    async def promptfoo_style(prompt: str, options: dict[str, Any], context: Any) -> str:
        return prompt[::-1]

    first = load_provider(takes_request)
    answer = await first.call(ProviderRequest(prompt="p", settings={"temperature": 0.5}))
    assert answer.output == "p:0.5"
    second = load_provider(promptfoo_style)
    assert (await second.call(ProviderRequest(prompt="abc"))).output == "cba"
    assert second.id.startswith("python:")


async def test_echo_returns_the_prompt() -> None:
    echo = load_provider("echo")
    assert (await echo.call(ProviderRequest(prompt="same"))).output == "same"
    chat = [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]
    assert (await echo.call(ProviderRequest(prompt=chat))).output == "a\nb"


async def test_a_provider_survives_several_event_loops(fake: FakeLLM) -> None:
    provider = _openai(fake)

    def run_once() -> str:
        return asyncio.run(provider.call(ProviderRequest(prompt="x"))).output

    outputs = await asyncio.gather(asyncio.to_thread(run_once), asyncio.to_thread(run_once))
    assert outputs == ["Hello from the fake LLM."] * 2


async def test_aclose_releases_connections_and_the_provider_still_works(fake: FakeLLM) -> None:
    provider = _openai(fake)
    assert (await provider.call(ProviderRequest(prompt="x"))).error is None
    await provider.aclose()
    await provider.aclose()  # idempotent
    assert (await provider.call(ProviderRequest(prompt="y"))).error is None
    await provider.aclose()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bedrock:claude", "provider.id 'bedrock:claude': unsupported provider"),
        ("openai:embedding:text-embedding-3-small", "unsupported openai provider type"),
        ("openai:chat", "name a model"),
        ("anthropic:messages:", "name a model"),
        ({"config": {}}, "provider.id: required"),
        ({"id": "openai:gpt-4o", "config": ["x"]}, "provider.config: expected a mapping"),
        ({"id": "https", "config": {}}, "config.url: required"),
        ({"id": "openai:gpt-4o", "config": {"concurrency": 0}}, "concurrency: expected"),
        ({"id": "openai:gpt-4o", "config": {"timeout": "slow"}}, "timeout: expected"),
        (
            {"id": "https", "config": {"url": "http://x", "transformResponse": "output.x"}},
            "transformResponse",
        ),
        ("python:missing.py", "no such Python file"),
        (42, "provider: expected an id, a mapping or a callable"),
    ],
)
def test_bad_provider_specs_name_the_field(spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_provider(spec)


def test_promptfoo_short_mapping_form(fake: FakeLLM) -> None:
    provider = load_provider({"openai:gpt-4o-mini": {"config": {"apiBaseUrl": fake.openai_url}}})
    assert provider.id == "openai:gpt-4o-mini"
    assert getattr(provider, "model", None) == "gpt-4o-mini"


async def test_api_keys_from_config_or_the_named_environment_variable(
    fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "from-env")
    by_envar = _openai(fake, apiKey=None, apiKeyEnvar="MY_LLM_KEY")
    await by_envar.call(ProviderRequest(prompt="x"))
    assert fake.headers[-1]["authorization"] == "Bearer from-env"
    await _openai(fake, apiKey="from-config").call(ProviderRequest(prompt="x"))
    assert fake.headers[-1]["authorization"] == "Bearer from-config"
    await _anthropic(fake, apiKey="anthropic-key").call(ProviderRequest(prompt="x"))
    sent = fake.headers[-1]  # client releases differ: x-api-key or a bearer token
    assert "anthropic-key" in (sent.get("x-api-key") or sent.get("authorization", ""))


async def test_http_provider_fills_headers_and_query(fake: FakeLLM) -> None:
    provider = load_provider(
        {
            "id": "https",
            "config": {
                "url": f"{fake.openai_url}/chat/completions",
                "headers": {"X-User": "{{user}}"},
                "queryParams": {"q": "{{prompt}}"},
                "body": {"model": "m", "messages": [{"role": "user", "content": "{{prompt}}"}]},
                "transformResponse": "json['choices'][0]['message']['content']",
            },
        }
    )
    response = await provider.call(ProviderRequest(prompt="hello", vars={"user": "ada"}))
    assert response.output == "Hello from the fake LLM."
    assert fake.headers[-1]["x-user"] == "ada"
