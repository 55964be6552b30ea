"""get_prompt and Prompt against the real collector: versions, caching, outages, fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import promptloop
from promptloop.core.tokens import derive_key, key_id, verify
from promptloop.sdk.prompts import clear_prompt_cache
from tests.support.collector import CollectorProcess, collector_process

TEMPLATE = "You are Acme's assistant. Answer about {{topic}} in {{words}} words."


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    with collector_process(f"duckdb:///{tmp_path}/s.duckdb", tmp_path / "data") as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_prompt_cache()
    yield
    clear_prompt_cache()


def _register_and_promote(url: str, template: str, rationale: str | None = None) -> str:
    body = {
        "name": "support",
        "template": template,
        "settings": {"model": "m"},
        "rationale": rationale,
    }
    version: str = httpx.post(f"{url}/v1/prompts", json=body).json()["version"]
    httpx.post(f"{url}/v1/prompts/support/labels/production", json={"version": version})
    return version


def _init(url: str, tmp_path: Path, **extra: object) -> promptloop.Client:
    return promptloop.init(
        url=url, strict=True, spool_dir=tmp_path / "spool", flush_interval=60.0, **extra
    )  # type: ignore[arg-type]


def test_interactions_logged_through_get_prompt_group_by_the_exact_version(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    _register_and_promote(collector.url, TEMPLATE)
    client = _init(collector.url, tmp_path)
    prompt = promptloop.get_prompt("support")
    assert (prompt.name, prompt.version) == ("support", "1.0.0")
    assert prompt.render(topic="exports", words=50).endswith("in 50 words.")

    @promptloop.track(feature="support_chat", prompt=prompt)
    def answer(question: str) -> str:
        return "Use File > Export."

    answer("How do I export?")
    second = _register_and_promote(collector.url, TEMPLATE + " Be brief.", "Too long")
    clear_prompt_cache()
    newer = promptloop.get_prompt("support")
    assert newer.version == second == "1.1.0"

    @promptloop.track(feature="support_chat")
    def answer_rendering(question: str) -> str:
        newer.render(topic="exports", words=20)  # rendering inside the call stamps it
        return "File > Export."

    answer_rendering("Export?")
    answer_rendering("Export again?")
    assert client.flush(timeout=30)
    rows = httpx.get(f"{collector.url}/v1/queries/version-summary").json()["items"]
    assert {(r["prompt_name"], r["prompt_version"], r["interactions"]) for r in rows} == {
        ("support", "1.0.0", 1),
        ("support", "1.1.0", 2),
    }
    [stored] = httpx.get(
        f"{collector.url}/v1/interactions", params={"prompt_version": "1.0.0"}
    ).json()["items"]
    assert stored["prompt_hash"] == prompt.hash


def test_the_registry_going_down_never_fails_the_app(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    _register_and_promote(collector.url, TEMPLATE)
    _init(collector.url, tmp_path, prompt_cache_ttl=3600)
    fetched = promptloop.get_prompt("support")
    collector.kill()
    assert promptloop.get_prompt("support") is fetched  # fresh cache: no network at all
    clear_prompt_cache()  # as after a restart: only the copy on disk is left
    again = promptloop.get_prompt("support")
    assert (again.version, again.hash) == (fetched.version, fetched.hash)
    fallback = promptloop.get_prompt("unknown", fallback="Hello {{name}}")
    assert fallback.render(name="Ada") == "Hello Ada" and fallback.version is None
    assert promptloop.get_prompt("unknown") is fallback  # kept, and retried in the background
    with pytest.raises(promptloop.PromptUnavailable, match="fallback"):
        promptloop.get_prompt("never-fetched")


def test_a_stale_entry_is_served_while_it_refreshes(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    _register_and_promote(collector.url, TEMPLATE)
    _init(collector.url, tmp_path, prompt_cache_ttl=0)
    first = promptloop.get_prompt("support")
    _register_and_promote(collector.url, TEMPLATE + " v2", "change")
    stale = promptloop.get_prompt("support")  # returned at once; refresh runs behind
    assert stale is first


def test_a_prompt_defined_in_code_registers_itself_on_first_use(
    collector: CollectorProcess, tmp_path: Path
) -> None:
    client = _init(collector.url, tmp_path)
    prompt = promptloop.Prompt(
        "greeter", "Greet {{name}} warmly.", {"temperature": 0.3}, rationale="First greeter prompt"
    )
    with promptloop.track(feature="greet") as call:
        call.output = prompt.render(name="Ada")
    assert prompt.wait_registered(timeout=30)
    assert prompt.version == "1.0.0"
    with promptloop.track(feature="greet") as later:
        later.output = prompt.render(name="Bob")
    assert client.flush(timeout=30)
    items = httpx.get(f"{collector.url}/v1/interactions", params={"feature": "greet"}).json()
    # The first call ran before registration finished: the collector filled the version in
    # from the content hash (or it was already known).
    assert {row["prompt_version"] for row in items["items"]} == {"1.0.0"}
    log = httpx.get(f"{collector.url}/v1/prompts/greeter/log").json()["entries"]
    assert log[0]["rationale"] == "First greeter prompt" and log[0]["source"] == "sdk"


def test_feedback_tokens_are_signed_for_the_collector(tmp_path: Path) -> None:
    promptloop.init("http://127.0.0.1:9", enabled=False, feedback_secret="shared-secret, old")

    @promptloop.track
    def reply(text: str) -> str:
        return text

    reply("hi")
    token = promptloop.feedback_token()
    assert token is not None
    key = derive_key("shared-secret")
    claims = verify(token, {key_id(key): key})
    assert claims.interaction_id == promptloop.last_interaction_id()
    assert claims.allows("thumbs_down")
    promptloop.init("http://127.0.0.1:9", enabled=False)
    assert promptloop.feedback_token("0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b") is None
