"""The on-disk response cache: hits, bypass for repeats, what the key covers, robustness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptloop.evals.cache import ResponseCache, cache_key
from promptloop.evals.providers import load_provider
from promptloop.evals.types import Provider, ProviderRequest, ProviderResponse
from tests.support.fake_llm import FakeLLM


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def _provider(fake: FakeLLM, cache_dir: Path, **config: Any) -> Provider:
    return load_provider(
        {
            "id": "openai:chat:gpt-4o-mini",
            "config": {"apiBaseUrl": fake.openai_url, "apiKey": "k1", **config},
        },
        cache_dir=cache_dir,
    )


async def test_second_identical_call_is_served_from_disk(fake: FakeLLM, tmp_path: Path) -> None:
    fake.reply("first answer", input_tokens=30, output_tokens=5)
    provider = _provider(fake, tmp_path)
    request = ProviderRequest(prompt="Q", vars={"q": "Q"}, settings={"temperature": 0})
    first = await provider.call(request)
    second = await provider.call(request)
    assert not first.cached and second.cached
    assert second.output == "first answer"
    assert (second.input_tokens, second.output_tokens, second.cost_usd) == (
        30,
        5,
        first.cost_usd,
    )
    assert second.latency_ms == first.latency_ms  # the latency of the original call
    assert len(fake.requests) == 1
    # A new provider object (a new process, say) reads the same files; the key holds no secret.
    again = await _provider(fake, tmp_path, apiKey="k2").call(request)
    assert again.cached and len(fake.requests) == 1


async def test_repeats_bypass_the_cache(fake: FakeLLM, tmp_path: Path) -> None:
    provider = _provider(fake, tmp_path)
    await provider.call(ProviderRequest(prompt="Q"))
    repeat = await provider.call(ProviderRequest(prompt="Q", repeat=1))
    assert not repeat.cached and len(fake.requests) == 2
    # ... and do not overwrite what repeat 0 stored.
    fake.reply("different")
    await provider.call(ProviderRequest(prompt="Q", repeat=2))
    assert (await provider.call(ProviderRequest(prompt="Q"))).output != "different"


@pytest.mark.parametrize(
    "changed",
    [
        ProviderRequest(prompt="Q2", vars={"q": "Q"}, settings={"temperature": 0}),
        ProviderRequest(prompt="Q", vars={"q": "other"}, settings={"temperature": 0}),
        ProviderRequest(prompt="Q", vars={"q": "Q"}, settings={"temperature": 1}),
        ProviderRequest(prompt=[{"role": "user", "content": "Q"}], vars={"q": "Q"}),
    ],
)
async def test_prompt_vars_and_settings_are_part_of_the_key(
    fake: FakeLLM, tmp_path: Path, changed: ProviderRequest
) -> None:
    provider = _provider(fake, tmp_path)
    await provider.call(ProviderRequest(prompt="Q", vars={"q": "Q"}, settings={"temperature": 0}))
    assert not (await provider.call(changed)).cached
    assert len(fake.requests) == 2


async def test_provider_identity_is_part_of_the_key(fake: FakeLLM, tmp_path: Path) -> None:
    await _provider(fake, tmp_path).call(ProviderRequest(prompt="Q"))
    warmer = await _provider(fake, tmp_path, temperature=0.9).call(ProviderRequest(prompt="Q"))
    assert not warmer.cached
    with FakeLLM() as elsewhere:  # same model id, another server
        other = await _provider(elsewhere, tmp_path).call(ProviderRequest(prompt="Q"))
        assert not other.cached and len(elsewhere.requests) == 1


async def test_errors_are_never_cached(fake: FakeLLM, tmp_path: Path) -> None:
    provider = _provider(fake, tmp_path)
    fake.fail(400, "nope")
    assert (await provider.call(ProviderRequest(prompt="Q"))).error is not None
    fake.reply("now fine")
    assert (await provider.call(ProviderRequest(prompt="Q"))).output == "now fine"


def test_key_is_stable_and_order_independent() -> None:
    identity = {"id": "echo", "model": None, "config": {}}
    a = ProviderRequest(prompt="p", vars={"x": 1, "y": 2}, settings={"a": 1, "b": 2})
    b = ProviderRequest(prompt="p", vars={"y": 2, "x": 1}, settings={"b": 2, "a": 1})
    assert cache_key(identity, a) == cache_key(identity, b)
    assert len(cache_key(identity, a)) == 64
    assert cache_key({**identity, "id": "echo2"}, a) != cache_key(identity, a)


def test_corrupt_entries_are_misses_and_clear_empties(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    key = "ab" + "0" * 62
    cache.put(key, ProviderResponse(output="ok", input_tokens=1, raw=object()))
    stored = cache.get(key)
    assert stored is not None and stored.output == "ok" and stored.cached and stored.raw is None
    (tmp_path / "ab" / f"{key}.json").write_text("{not json", encoding="utf-8")
    assert cache.get(key) is None
    assert cache.hits == 1 and cache.misses == 1
    assert cache.clear() == 1 and cache.get(key) is None
    assert not list(tmp_path.glob("*/*.tmp"))  # atomic writes leave no temporaries
