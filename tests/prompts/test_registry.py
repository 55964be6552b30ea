"""The registry on every backend: identity, changelog, labels, deployments, diff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.prompts import PromptRegistry
from promptloop.store import Store
from tests.support.records import T0, interaction


def ticking_clock(start: datetime = T0) -> Callable[[], datetime]:
    """Each call is one minute after the previous: a deterministic order of events."""
    state = {"now": start}

    def now() -> datetime:
        state["now"] += timedelta(minutes=1)
        return state["now"]

    return now


@pytest.fixture
def registry(store: Store) -> PromptRegistry:
    return PromptRegistry(store, clock=ticking_clock())


SETTINGS = {"model": "claude-sonnet-4-20250514", "temperature": 0.2}


def test_identical_content_returns_the_existing_version(registry: PromptRegistry) -> None:
    first = registry.register("support", "You are Acme's assistant.", SETTINGS)
    again = registry.register("support", "You are Acme's assistant.", dict(SETTINGS))
    assert first.created and not again.created
    assert again.version == first.version
    assert first.version.version == "1.0.0"
    assert first.version.rationale == "Initial version."
    other_name = registry.register("other", "You are Acme's assistant.", SETTINGS)
    assert other_name.created  # identity is per prompt name


def test_a_new_version_needs_a_rationale(registry: PromptRegistry) -> None:
    registry.register("support", "v1", SETTINGS)
    with pytest.raises(ValueError, match="rationale is required"):
        registry.register("support", "v2", SETTINGS)
    with pytest.raises(ValueError, match="rationale is required"):
        registry.register("support", "v2", SETTINGS, rationale="   ")
    assert [v.version for v in registry.versions("support")] == ["1.0.0"]


def test_versions_bump_and_explicit_numbers_must_increase(registry: PromptRegistry) -> None:
    registry.register("support", "a", SETTINGS)
    assert registry.register("support", "b", SETTINGS, rationale="r").version.version == "1.1.0"
    patch = registry.register("support", "c", SETTINGS, rationale="r", bump="patch")
    assert patch.version.version == "1.1.1"
    assert (
        registry.register("support", "d", SETTINGS, rationale="r", version="2.0.0").version.version
        == "2.0.0"
    )
    with pytest.raises(ConflictError, match="not higher"):
        registry.register("support", "e", SETTINGS, rationale="r", version="1.5.0")


def test_edited_three_times_promoted_and_rolled_back_shows_the_whole_changelog(
    registry: PromptRegistry,
) -> None:
    registry.register("summarizer", "Summarise {{text}}.", SETTINGS, author="ann")
    registry.promote("summarizer", "1.0.0", actor="ann", reason="launch")
    registry.register(
        "summarizer",
        "Summarise {{text}} in three bullets.",
        SETTINGS,
        rationale="Summaries were too long; users shortened 40% of them.",
        failure_mode="too long",
        evidence=[{"kind": "feedback_query", "ref": "/v1/queries/negative-inputs?days=14"}],
        author="ann",
    )
    registry.register(
        "summarizer",
        "Summarise {{text}} in three bullets. Keep numbers exact.",
        SETTINGS,
        rationale="Numbers were rounded.",
        evidence=[{"kind": "interaction", "ref": "0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b"}],
        author="bob",
    )
    registry.register(
        "summarizer",
        "Summarise {{text}} in three bullets. Keep numbers exact.",
        {**SETTINGS, "temperature": 0.0},
        rationale="Less variance between regenerations.",
        author="bob",
    )
    registry.promote("summarizer", "1.2.0", label="staging", actor="bob", reason="try it")
    registry.promote("summarizer", "1.3.0", actor="bob", reason="ship")
    back = registry.rollback("summarizer", actor="carol", reason="regeneration rate rose")
    assert (back.from_version, back.to_version, back.action) == ("1.3.0", "1.0.0", "rollback")
    assert registry.labels("summarizer") == {"production": "1.0.0", "staging": "1.2.0"}

    log = registry.history("summarizer")
    kinds = [(e["kind"], e.get("version") or e["to_version"]) for e in log]
    assert kinds == [
        ("deployment", "1.0.0"),
        ("deployment", "1.3.0"),
        ("deployment", "1.2.0"),
        ("version", "1.3.0"),
        ("version", "1.2.0"),
        ("version", "1.1.0"),
        ("deployment", "1.0.0"),
        ("version", "1.0.0"),
    ]
    rationales = [e["rationale"] for e in log if e["kind"] == "version"]
    assert rationales[-2] == "Summaries were too long; users shortened 40% of them."
    assert log[0]["actor"] == "carol" and log[0]["reason"] == "regeneration rate rose"
    v11 = next(e for e in log if e.get("version") == "1.1.0")
    assert v11["evidence"][0]["kind"] == "feedback_query"

    with pytest.raises(ConflictError, match="no earlier version"):
        registry.rollback("summarizer", actor="carol")


def test_deployments_are_queryable_by_time_for_chart_markers(registry: PromptRegistry) -> None:
    registry.register("p", "one", SETTINGS)
    registry.register("p", "two", SETTINGS, rationale="r")
    first = registry.promote("p", "1.0.0")
    second = registry.promote("p", "1.1.0")
    assert [d.to_version for d in registry.deployments("p")] == ["1.0.0", "1.1.0"]
    assert registry.deployments("p", since=second.timestamp) == [second]
    assert registry.deployments(until=second.timestamp) == [first]
    assert registry.deployments("p", label="staging") == []


def test_resolve_by_label_version_or_latest(registry: PromptRegistry) -> None:
    registry.register("p", "one {{x}}", SETTINGS)
    registry.register("p", "two {{x}}", SETTINGS, rationale="r")
    registry.promote("p", "1.0.0")
    assert registry.resolve("p", label="production").version == "1.0.0"
    assert registry.resolve("p").version == "1.1.0"
    assert registry.resolve("p", version="1.1.0").render(x="!") == "two !"
    with pytest.raises(NotFoundError, match="label 'staging'"):
        registry.resolve("p", label="staging")
    with pytest.raises(NotFoundError):
        registry.resolve("missing")
    with pytest.raises(NotFoundError):
        registry.promote("p", "9.0.0")


def test_diff_shows_template_and_settings(registry: PromptRegistry) -> None:
    registry.register("p", "Be brief.\nUse bullets.\n", SETTINGS)
    registry.register(
        "p", "Be brief.\nUse numbered lists.\n", {**SETTINGS, "temperature": 0.7}, rationale="r"
    )
    text = registry.diff("p", "1.0.0", "1.1.0")
    assert "-Use bullets." in text and "+Use numbered lists." in text
    assert '-  "temperature": 0.2' in text and '+  "temperature": 0.7' in text
    assert "--- p@1.0.0/template" in text


def test_interactions_with_unknown_prompts_show_up_as_unregistered(
    registry: PromptRegistry, store: Store
) -> None:
    known = registry.register("support", "hello", SETTINGS).version
    store.insert_interactions(
        [
            interaction(
                prompt_name="support", prompt_version="1.0.0", prompt_hash=known.prompt_hash
            ),
            interaction(prompt_name="support", prompt_version="0.9.0", prompt_hash="sha256:beef"),
            interaction(prompt_name="support", prompt_version="0.9.0", prompt_hash="sha256:beef"),
            interaction(prompt_name="legacy", prompt_version="v3", prompt_hash=None),
        ]
    )
    found = {
        (r["prompt_name"], r["prompt_version"]): r["interactions"]
        for r in registry.unregistered_versions()
    }
    assert found == {("support", "0.9.0"): 2, ("legacy", "v3"): 1}


def test_names_summarise_every_prompt(registry: PromptRegistry) -> None:
    registry.register("b", "x", SETTINGS)
    registry.register("a", "x", SETTINGS)
    registry.register("a", "y", SETTINGS, rationale="r")
    registry.promote("a", "1.1.0")
    names = registry.names()
    assert [(n["prompt_name"], n["versions"], n["latest_version"]) for n in names] == [
        ("a", 2, "1.1.0"),
        ("b", 1, "1.0.0"),
    ]
    assert names[0]["labels"] == {"production": "1.1.0"}
