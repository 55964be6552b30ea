"""Model-graded assertions through real openai/anthropic clients against a scripted server.

The grader answers the way promptfoo's graders do: ``{"pass", "score", "reason"}`` JSON for
llm-rubric, a final Y/N line for model-graded-closedqa, a category A-E for factuality and an
index for select-best.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from promptloop.evals.assertions import evaluate, run_assertion, select_best
from promptloop.evals.judge import JudgeConfig
from promptloop.evals.providers import load_provider
from promptloop.evals.types import AssertionSpec, EvalContext, Provider
from tests.support.fake_llm import FakeLLM

OUT = "Your meeting moved to 3pm. Anything else?"


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def grader(fake: FakeLLM) -> Provider:
    return load_provider(
        {
            "id": "openai:chat:gpt-4o-mini",
            "config": {"apiBaseUrl": fake.openai_url, "apiKey": "test", "max_retries": 0},
        }
    )


def _ctx(grader: Provider | None, output: str = OUT, **extra: Any) -> EvalContext:
    return EvalContext(output=output, vars={}, prompt="When is my meeting?", grader=grader, **extra)


def _sent(fake: FakeLLM, index: int = -1) -> dict[str, Any]:
    return fake.requests[index][1]


async def test_llm_rubric_reads_the_graders_json_and_logs_the_judge(
    fake: FakeLLM, grader: Provider
) -> None:
    fake.reply('{"reason": "Polite and specific.", "pass": true, "score": 0.9}')
    spec = AssertionSpec("llm-rubric", "Is polite and gives the new time")
    result = await run_assertion(spec, _ctx(grader))
    assert (result.passed, result.score, result.reason) == (True, 0.9, "Polite and specific.")
    assert result.judge == {
        "provider": "openai:chat:gpt-4o-mini",
        "model": "gpt-4o-mini",
        "temperature": 0.0,
        "seed": 0,
    }
    assert result.grader_tokens == 18  # the fake's 11 input + 7 output tokens
    body = _sent(fake)
    assert (body["temperature"], body["seed"], body["model"]) == (0.0, 0, "gpt-4o-mini")
    user_turn = body["messages"][-1]["content"]
    assert OUT in user_turn and "Is polite and gives the new time" in user_turn


async def test_llm_rubric_threshold_and_not(fake: FakeLLM, grader: Provider) -> None:
    fake.route("below-bar", '{"pass": true, "score": 0.6, "reason": "meh"}')
    fake.route("inverted", '{"pass": true, "score": 0.9, "reason": "polite"}')
    below = AssertionSpec("llm-rubric", "below-bar", threshold=0.8)
    result = await run_assertion(below, _ctx(grader))
    assert not result.passed and result.score == 0.6
    inverted = await run_assertion(AssertionSpec("not-llm-rubric", "inverted"), _ctx(grader))
    assert not inverted.passed and inverted.score == pytest.approx(0.1)


async def test_a_grader_that_cannot_grade_fails_even_when_inverted(
    fake: FakeLLM, grader: Provider
) -> None:
    fake.reply("I think it is fine.")
    fake.reply("I think it is fine.")
    plain = await run_assertion(AssertionSpec("llm-rubric", "polite"), _ctx(grader))
    inverted = await run_assertion(AssertionSpec("not-llm-rubric", "polite"), _ctx(grader))
    for result in (plain, inverted):
        assert not result.passed and result.reason.startswith("Judge error: could not read JSON")
    fake.fail(400, "bad request")
    failed = await run_assertion(AssertionSpec("llm-rubric", "polite"), _ctx(grader))
    assert not failed.passed and "HTTP 400" in failed.reason


async def test_explicit_judge_model_temperature_seed(fake: FakeLLM, grader: Provider) -> None:
    fake.reply('{"pass": false, "score": 0, "reason": "rude"}')
    spec = AssertionSpec(
        "llm-rubric", "polite", config={"model": "gpt-4.1", "temperature": 0.2, "seed": 7}
    )
    result = await run_assertion(spec, _ctx(grader))
    assert not result.passed
    assert result.judge is not None and result.judge["model"] == "gpt-4.1"
    body = _sent(fake)
    assert (body["model"], body["temperature"], body["seed"]) == ("gpt-4.1", 0.2, 7)


async def test_a_configured_judge_grades_with_its_own_settings(
    fake: FakeLLM, grader: Provider
) -> None:
    judge = JudgeConfig.of(
        {"provider": grader, "model": "gpt-4o-2024-08-06", "temperature": 0.1, "seed": 9}
    )
    fake.route("rubric", '{"pass": true, "score": 1, "reason": "ok"}')
    ctx = _ctx(judge.resolve())
    result = await run_assertion(AssertionSpec("llm-rubric", "rubric"), ctx)
    assert result.judge == {
        "provider": "openai:chat:gpt-4o-mini",
        "model": "gpt-4o-2024-08-06",
        "temperature": 0.1,
        "seed": 9,
    }
    body = _sent(fake)
    assert (body["model"], body["temperature"], body["seed"]) == ("gpt-4o-2024-08-06", 0.1, 9)
    reseeded = AssertionSpec("llm-rubric", "rubric", config={"seed": 1})
    result = await run_assertion(reseeded, ctx)
    assert result.judge is not None and (result.judge["seed"], result.judge["model"]) == (
        1,
        "gpt-4o-2024-08-06",
    )
    assert _sent(fake)["seed"] == 1


async def test_assertion_provider_overrides_the_default_grader(fake: FakeLLM) -> None:
    fake.reply('{"pass": true, "score": 1, "reason": "ok"}', model="claude-3-5-haiku-20241022")
    spec = AssertionSpec(
        "llm-rubric",
        "polite",
        provider={
            "id": "anthropic:messages:claude-3-5-haiku-latest",
            "config": {"apiBaseUrl": fake.anthropic_url, "apiKey": "test"},
        },
    )
    result = await run_assertion(spec, _ctx(None))
    assert result.passed
    path, body = fake.requests[-1]
    assert path == "/v1/messages" and "grade an output" in body["system"]
    assert result.judge is not None
    assert result.judge["provider"] == "anthropic:messages:claude-3-5-haiku-latest"


async def test_model_graded_without_any_grader_says_so() -> None:
    result = await run_assertion(AssertionSpec("llm-rubric", "polite"), _ctx(None))
    assert not result.passed and "needs a grader" in result.reason


@pytest.mark.parametrize(
    ("answer", "passes"),
    [
        ("The submission gives a time.\nY\nY", True),
        ("It never mentions a time.\nN\nN", False),
    ],
)
async def test_closedqa_reads_the_final_letter(
    fake: FakeLLM, grader: Provider, answer: str, passes: bool
) -> None:
    fake.reply(answer)
    spec = AssertionSpec("model-graded-closedqa", "mentions the new time")
    result = await run_assertion(spec, _ctx(grader))
    assert result.passed is passes and result.score == float(passes)
    prompt = _sent(fake)["messages"][0]["content"]
    assert "When is my meeting?" in prompt and "mentions the new time" in prompt


async def test_closedqa_malformed_and_inverted(fake: FakeLLM, grader: Provider) -> None:
    fake.reply("Probably.")
    malformed = await run_assertion(
        AssertionSpec("model-graded-closedqa", "criterion"), _ctx(grader)
    )
    assert not malformed.passed and "no final Y or N" in malformed.reason
    fake.reply("Nope.\nN")
    inverted = await run_assertion(
        AssertionSpec("not-model-graded-closedqa", "criterion"), _ctx(grader)
    )
    assert inverted.passed and inverted.score == 1.0


@pytest.mark.parametrize(
    ("category", "passes"),
    [("A", True), ("B", True), ("C", True), ("D", False), ("E", True)],
)
async def test_factuality_default_pass_set(
    fake: FakeLLM, grader: Provider, category: str, passes: bool
) -> None:
    fake.reply(json.dumps({"category": category, "reason": f"category {category}"}))
    spec = AssertionSpec("factuality", "The meeting is at 3pm on Tuesday.")
    result = await run_assertion(spec, _ctx(grader))
    assert result.passed is passes and result.score == float(passes)
    assert result.reason == f"({category}) category {category}"
    assert result.judge is not None and result.judge["category"] == category
    prompt = _sent(fake)["messages"][0]["content"]
    assert (
        "[Expert]: The meeting is at 3pm on Tuesday." in prompt and f"[Submission]: {OUT}" in prompt
    )


async def test_factuality_scores_are_configurable_and_legacy_answers_read(
    fake: FakeLLM, grader: Provider
) -> None:
    fake.reply('{"category": "B", "reason": "adds detail"}')
    strict = AssertionSpec(
        "factuality", "3pm", config={"factuality": {"superset": 0, "subset": 0.5}}
    )
    assert not (await run_assertion(strict, _ctx(grader))).passed
    fake.reply('{"category": "A", "reason": "less detail"}')
    partial = await run_assertion(strict, _ctx(grader))
    assert partial.passed and partial.score == 0.5
    fake.reply("(D) The submission says 4pm.")
    legacy = await run_assertion(AssertionSpec("factuality", "3pm"), _ctx(grader))
    assert not legacy.passed and legacy.reason == "(D) The submission says 4pm."
    fake.reply("No idea.")
    unreadable = await run_assertion(AssertionSpec("factuality", "3pm"), _ctx(grader))
    assert not unreadable.passed and "did not name a category" in unreadable.reason


async def test_factuality_uses_the_reference_when_no_value(fake: FakeLLM, grader: Provider) -> None:
    fake.reply('{"category": "C", "reason": "same"}')
    ctx = _ctx(grader, reference="Moved to 3pm.")
    assert (await run_assertion(AssertionSpec("factuality"), ctx)).passed
    assert "[Expert]: Moved to 3pm." in _sent(fake)["messages"][0]["content"]


async def test_select_best_passes_only_the_chosen_output(fake: FakeLLM, grader: Provider) -> None:
    fake.reply("1")
    outputs = ["Meeting at 3.", "Your meeting moved to 3pm on Tuesday.", "Dunno."]
    spec = AssertionSpec("select-best", "most specific answer")
    results = await select_best(spec, [_ctx(grader, output) for output in outputs])
    assert [r.passed for r in results] == [False, True, False]
    assert [r.score for r in results] == [0.0, 1.0, 0.0]
    prompt = _sent(fake)["messages"][0]["content"]
    assert all(f'<Text index="{i}">\n{o}\n</Text>' in prompt for i, o in enumerate(outputs))
    fake.reply("The best is number 7")
    invalid = await select_best(spec, [_ctx(grader, output) for output in outputs])
    assert not any(r.passed for r in invalid)
    assert "invalid select-best verdict" in invalid[0].reason
    (alone,) = await select_best(spec, [_ctx(grader)])
    assert not alone.passed and "at least two outputs" in alone.reason
    ungraded = await select_best(spec, [_ctx(None, output) for output in outputs])
    assert [r.passed for r in ungraded] == [False] * 3 and "needs a grader" in ungraded[0].reason


async def test_evaluate_runs_graded_and_plain_assertions_together(
    fake: FakeLLM, grader: Provider
) -> None:
    fake.route("tone rubric", '{"pass": true, "score": 1.0, "reason": "polite"}')
    fake.route("time rubric", '{"pass": false, "score": 0.0, "reason": "no time"}')
    specs = [
        AssertionSpec.from_dict({"type": "not-contains", "value": "sorry"}),
        AssertionSpec.from_dict({"type": "llm-rubric", "value": "tone rubric", "weight": 2}),
        AssertionSpec.from_dict({"type": "llm-rubric", "value": "time rubric"}),
        AssertionSpec.from_dict({"type": "select-best", "value": "ignored here"}),
    ]
    result = await evaluate(specs, _ctx(grader))
    assert not result.passed and result.reason == "no time"
    assert result.score == pytest.approx(3 / 4)
    assert len(result.components) == 3  # select-best is applied across outputs, not here
    assert result.grader_tokens == 36


async def test_similar_with_an_embedding_provider(fake: FakeLLM) -> None:
    provider = {
        "id": "openai:embedding:text-embedding-3-small",
        "config": {"apiBaseUrl": fake.openai_url, "apiKey": "test"},
    }
    # The fake embeds texts as letter counts: "cab" and "abc" point the same way, "xyz" not.
    same = await run_assertion(
        AssertionSpec("similar", "abc", threshold=0.99, provider=provider), _ctx(None, "cab")
    )
    assert same.passed and same.score == pytest.approx(1.0)
    assert fake.requests[-1][0] == "/v1/embeddings"
    assert fake.requests[-1][1]["model"] == "text-embedding-3-small"
    apart = await run_assertion(
        AssertionSpec("similar", "abc", provider=provider), _ctx(None, "xyz")
    )
    assert not apart.passed and apart.score == pytest.approx(0.0)
    wrong = await run_assertion(
        AssertionSpec("similar", "abc", provider="openai:chat:gpt-4o"), _ctx(None)
    )
    assert not wrong.passed and "needs an embedding provider" in wrong.reason


async def test_rubric_prompt_replaces_the_default_grading_prompt(
    fake: FakeLLM, grader: Provider
) -> None:
    fake.reply('{"pass": true, "score": 1, "reason": "ok"}')
    chat = '[{"role": "system", "content": "Grade for {{audience}}."},'
    chat += ' {"role": "user", "content": "{{output}} | {{rubric}}"}]'
    spec = AssertionSpec.from_dict({"type": "llm-rubric", "value": "is kind", "rubricPrompt": chat})
    ctx = EvalContext(output="Hi!", vars={"audience": "kids"}, prompt="p", grader=grader)
    assert (await run_assertion(spec, ctx)).passed
    assert _sent(fake)["messages"] == [
        {"role": "system", "content": "Grade for kids."},
        {"role": "user", "content": "Hi! | is kind"},
    ]
    fake.reply('{"category": "A", "reason": "subset"}')
    text = AssertionSpec(
        "factuality", "3pm", config={"rubricPrompt": "Q={{input}} E={{ideal}} S={{completion}}"}
    )
    assert (await run_assertion(text, ctx)).passed
    assert _sent(fake)["messages"] == [{"role": "user", "content": "Q=p E=3pm S=Hi!"}]
