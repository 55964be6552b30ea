"""Deterministic assertions, case by case against promptfoo's documented behaviour.

Each row: the assertion as promptfoo YAML, the output, the expected pass and score. The
``not-`` variants, thresholds and defaults (levenshtein 5, rouge-n 0.75, similar 0.75) are
rows of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptloop.evals.assertions import (
    Check,
    evaluate,
    problems,
    register_assertion,
    run_assertion,
    unsupported_types,
)
from promptloop.evals.types import AssertionSpec, EvalContext, GradingResult

OUT = "The capital of France is Paris."
TYPO = "The capitol of France is Paris!"  # two edits away from OUT
JSON_OUT = '{"city": "Paris", "population": 2100000}'
SCHEMA = {
    "type": "object",
    "required": ["city"],
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
}

# (assertion, output, passes, score or None to skip the score check)
CASES: list[tuple[dict[str, Any], str, bool, float | None]] = [
    # equals: exact string; an object value compares with the output parsed as JSON
    ({"type": "equals", "value": OUT}, OUT, True, 1.0),
    ({"type": "equals", "value": "the capital of france is paris."}, OUT, False, 0.0),
    ({"type": "not-equals", "value": OUT}, OUT, False, 0.0),
    ({"type": "not-equals", "value": "Lyon"}, OUT, True, 1.0),
    ({"type": "equals", "value": {"population": 2100000, "city": "Paris"}}, JSON_OUT, True, 1.0),
    ({"type": "equals", "value": {"city": "Paris"}}, JSON_OUT, False, 0.0),
    ({"type": "not-equals", "value": {"city": "Paris"}}, "not json", True, 1.0),
    ({"type": "equals", "value": 42}, "42", True, 1.0),
    ({"type": "equals", "value": True}, "true", True, 1.0),
    # contains / icontains: substring, case-sensitive or not; numbers allowed
    ({"type": "contains", "value": "Paris"}, OUT, True, 1.0),
    ({"type": "contains", "value": "paris"}, OUT, False, 0.0),
    ({"type": "not-contains", "value": "Lyon"}, OUT, True, 1.0),
    ({"type": "not-contains", "value": "Paris"}, OUT, False, 0.0),
    ({"type": "icontains", "value": "PARIS"}, OUT, True, 1.0),
    ({"type": "not-icontains", "value": "paris"}, OUT, False, 0.0),
    ({"type": "contains", "value": 2100000}, JSON_OUT, True, 1.0),
    # contains-any / contains-all and their case-insensitive twins; comma-separated strings
    ({"type": "contains-any", "value": ["Lyon", "Paris"]}, OUT, True, 1.0),
    ({"type": "contains-any", "value": ["Lyon", "Nice"]}, OUT, False, 0.0),
    ({"type": "contains-any", "value": "Lyon, Paris"}, OUT, True, 1.0),
    ({"type": "not-contains-any", "value": ["Lyon", "Nice"]}, OUT, True, 1.0),
    ({"type": "not-contains-any", "value": ["Lyon", "Paris"]}, OUT, False, 0.0),
    ({"type": "contains-all", "value": ["France", "Paris"]}, OUT, True, 1.0),
    ({"type": "contains-all", "value": ["France", "Lyon"]}, OUT, False, 0.0),
    ({"type": "contains-all", "value": '"capital of", Paris'}, OUT, True, 1.0),
    ({"type": "not-contains-all", "value": ["France", "Lyon"]}, OUT, True, 1.0),
    ({"type": "icontains-any", "value": ["PARIS", "lyon"]}, OUT, True, 1.0),
    ({"type": "icontains-any", "value": ["berlin", "lyon"]}, OUT, False, 0.0),
    ({"type": "icontains-all", "value": ["FRANCE", "paris"]}, OUT, True, 1.0),
    ({"type": "icontains-all", "value": ["FRANCE", "lyon"]}, OUT, False, 0.0),
    ({"type": "not-icontains-all", "value": ["france", "PARIS"]}, OUT, False, 0.0),
    # starts-with / regex (search anywhere; anchors when written)
    ({"type": "starts-with", "value": "The capital"}, OUT, True, 1.0),
    ({"type": "starts-with", "value": "capital"}, OUT, False, 0.0),
    ({"type": "not-starts-with", "value": "Sorry"}, OUT, True, 1.0),
    ({"type": "regex", "value": r"Paris\.$"}, OUT, True, 1.0),
    ({"type": "regex", "value": r"\d{4}"}, OUT, False, 0.0),
    ({"type": "not-regex", "value": r"\d{4}"}, OUT, True, 1.0),
    ({"type": "regex", "value": "("}, OUT, False, 0.0),  # an invalid pattern fails
    # word-count: exact, min, max, range; whitespace-separated words
    ({"type": "word-count", "value": 6}, OUT, True, 1.0),
    ({"type": "word-count", "value": 5}, OUT, False, 0.0),
    ({"type": "word-count", "value": {"min": 3}}, OUT, True, 1.0),
    ({"type": "word-count", "value": {"max": 5}}, OUT, False, 0.0),
    ({"type": "word-count", "value": {"min": 2, "max": 6}}, OUT, True, 1.0),
    ({"type": "not-word-count", "value": {"min": 2, "max": 6}}, OUT, False, 0.0),
    ({"type": "word-count", "value": {"min": 7, "max": 3}}, OUT, False, 0.0),  # min > max
    # is-json / contains-json, with a JSON schema (object, or YAML text)
    ({"type": "is-json"}, JSON_OUT, True, 1.0),
    ({"type": "is-json"}, OUT, False, 0.0),
    ({"type": "not-is-json"}, OUT, True, 1.0),
    ({"type": "is-json", "value": SCHEMA}, JSON_OUT, True, 1.0),
    ({"type": "is-json", "value": {**SCHEMA, "required": ["country"]}}, JSON_OUT, False, 0.0),
    ({"type": "is-json", "value": "type: object\nrequired: [city]"}, JSON_OUT, True, 1.0),
    ({"type": "not-is-json", "value": SCHEMA}, JSON_OUT, False, 0.0),
    ({"type": "contains-json"}, f"Here you go: {JSON_OUT} Anything else?", True, 1.0),
    ({"type": "contains-json"}, OUT, False, 0.0),
    ({"type": "contains-json", "value": SCHEMA}, f"a {{broken}} b {JSON_OUT}", True, 1.0),
    ({"type": "contains-json", "value": {**SCHEMA, "required": ["x"]}}, JSON_OUT, False, 0.0),
    ({"type": "not-contains-json"}, OUT, True, 1.0),
    # levenshtein: threshold is the maximum edit distance (default 5)
    ({"type": "levenshtein", "value": "The capital of France is Pariss."}, OUT, True, 1.0),
    ({"type": "levenshtein", "value": "The capital of Spain is Madrid."}, OUT, False, 0.0),
    (
        {"type": "levenshtein", "value": "The capitol of France is Paris!", "threshold": 1},
        OUT,
        False,
        0.0,
    ),
    (
        {"type": "levenshtein", "value": "The capitol of France is Paris!", "threshold": 2},
        OUT,
        True,
        1.0,
    ),
    ({"type": "not-levenshtein", "value": "The capital of Spain is Madrid."}, OUT, True, 1.0),
    # rouge-n: ROUGE-1 recall of the reference's words (default threshold 0.75)
    ({"type": "rouge-n", "value": "The capital of France is Paris."}, OUT, True, 1.0),
    # 3 of the reference's 6 tokens ("Paris", "is", ".") appear: 0.5 < 0.75
    ({"type": "rouge-n", "value": "Paris is lovely in spring ."}, OUT, False, 0.5),
    ({"type": "rouge-n", "value": "Paris is lovely in spring .", "threshold": 0.5}, OUT, True, 0.5),
    ({"type": "not-rouge-n", "value": "Berlin has a lovely zoo"}, OUT, True, 1.0),
    # latency / cost: at most the threshold
    ({"type": "latency", "threshold": 500}, OUT, True, 1.0),
    ({"type": "latency", "threshold": 100}, OUT, False, 0.0),
    ({"type": "not-latency", "threshold": 100}, OUT, True, 1.0),
    ({"type": "cost", "threshold": 0.01}, OUT, True, 1.0),
    ({"type": "cost", "threshold": 0.0001}, OUT, False, 0.0),
    ({"type": "latency", "metric": "latency_ms"}, OUT, True, 250.0),  # no threshold: recorded
    ({"type": "latency"}, OUT, False, 0.0),  # no threshold and no metric: an error
    # python: an expression, a function body, numbers against the threshold, dicts
    ({"type": "python", "value": "'Paris' in output"}, OUT, True, 1.0),
    ({"type": "python", "value": "output.startswith('Sorry')"}, OUT, False, 0.0),
    ({"type": "not-python", "value": "output.startswith('Sorry')"}, OUT, True, 1.0),
    ({"type": "python", "value": "len(output) / 100"}, OUT, True, 0.31),
    ({"type": "python", "value": "len(output) / 100", "threshold": 0.5}, OUT, False, 0.31),
    ({"type": "python", "value": "0"}, OUT, False, 0.0),
    (
        {
            "type": "python",
            "value": "words = output.split()\nreturn {'pass': len(words) > 3, 'score': 0.8,"
            " 'reason': 'long enough'}",
        },
        OUT,
        True,
        0.8,
    ),
    (
        {"type": "python", "value": "{'pass': True, 'score': 0.4}", "threshold": 0.5},
        OUT,
        False,
        0.4,
    ),
    ({"type": "python", "value": "context['vars']['city'] in output"}, OUT, True, 1.0),
    ({"type": "python", "value": "1/0"}, OUT, False, 0.0),  # an exception fails the check
    ({"type": "python", "value": "def ("}, OUT, False, 0.0),  # a syntax error too
]


def _ctx(output: str, **extra: Any) -> EvalContext:
    return EvalContext(
        output=output,
        vars={"city": "Paris", "country": "France"},
        prompt="What is the capital of France?",
        latency_ms=250.0,
        cost_usd=0.002,
        **extra,
    )


@pytest.mark.parametrize(
    ("assertion", "output", "passes", "score"),
    CASES,
    ids=[f"{i}-{case[0]['type']}" for i, case in enumerate(CASES)],
)
async def test_assertion_semantics(
    assertion: dict[str, Any], output: str, passes: bool, score: float | None
) -> None:
    spec = AssertionSpec.from_dict(assertion)
    result = await run_assertion(spec, _ctx(output))
    assert result.passed is passes, result.reason
    if score is not None:
        assert result.score == pytest.approx(score, abs=1e-9)
    assert result.reason
    assert result.assertion is spec


async def test_failure_reasons_say_what_was_expected() -> None:
    result = await run_assertion(AssertionSpec("contains-all", ["France", "Lyon"]), _ctx(OUT))
    assert result.reason == "Expected output to contain all of [France, Lyon]. Missing: [Lyon]"
    negated = await run_assertion(AssertionSpec("not-contains", "Paris"), _ctx(OUT))
    assert negated.reason == 'Expected output to not contain "Paris"'
    lev = await run_assertion(AssertionSpec("levenshtein", "xyz", threshold=2), _ctx("abcdef"))
    assert lev.reason == "Levenshtein distance 6 is greater than threshold 2"


async def test_values_are_templates_over_the_test_variables() -> None:
    spec = AssertionSpec.from_dict({"type": "contains", "value": "{{ city }}"})
    assert (await run_assertion(spec, _ctx(OUT))).passed
    spec = AssertionSpec.from_dict({"type": "contains-all", "value": ["{{country}}", "{{city}}"]})
    assert (await run_assertion(spec, _ctx(OUT))).passed
    unknown = AssertionSpec.from_dict({"type": "contains", "value": "{{nope}}"})
    assert not (await run_assertion(unknown, _ctx(OUT))).passed


async def test_reference_types_fall_back_to_the_users_correction() -> None:
    ctx = _ctx(OUT, reference="The capital of France is Paris!")
    assert (await run_assertion(AssertionSpec("levenshtein"), ctx)).passed
    assert not (await run_assertion(AssertionSpec("equals"), ctx)).passed
    missing = await run_assertion(AssertionSpec("equals"), _ctx(OUT))
    assert not missing.passed and "needs a value" in missing.reason


async def test_python_file_function(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "def get_assert(output, context):\n"
        "    return {'pass': context['vars']['city'] in output, 'score': 0.9, 'reason': 'ok'}\n"
        "async def shouting(output, context):\n"
        "    return output.isupper()\n",
        encoding="utf-8",
    )
    default = AssertionSpec("python", f"file://{tmp_path}/checks.py")
    result = await run_assertion(default, _ctx(OUT))
    assert (result.passed, result.score, result.reason) == (True, 0.9, "ok")
    named = AssertionSpec("python", f"file://{tmp_path}/checks.py:shouting")
    assert not (await run_assertion(named, _ctx(OUT))).passed
    assert (await run_assertion(named, _ctx("LOUD"))).passed
    relative = AssertionSpec("python", "file://checks.py", config={"base_dir": str(tmp_path)})
    assert (await run_assertion(relative, _ctx(OUT))).passed
    missing = AssertionSpec("python", f"file://{tmp_path}/checks.py:absent")
    result = await run_assertion(missing, _ctx(OUT))
    assert not result.passed and "no function 'absent'" in result.reason


async def test_values_from_files(tmp_path: Path) -> None:
    (tmp_path / "expected.txt").write_text(OUT, encoding="utf-8")
    (tmp_path / "cities.json").write_text('["Lyon", "Paris"]', encoding="utf-8")
    (tmp_path / "words.yaml").write_text("- capital\n- France\n", encoding="utf-8")
    ctx = _ctx(OUT)
    assert (
        await run_assertion(AssertionSpec("equals", f"file://{tmp_path}/expected.txt"), ctx)
    ).passed
    relative = AssertionSpec("contains-any", "file://cities.json", config={"base_dir": tmp_path})
    assert (await run_assertion(relative, ctx)).passed
    yaml_list = AssertionSpec("contains-all", f"file://{tmp_path}/words.yaml")
    assert (await run_assertion(yaml_list, ctx)).passed
    missing = await run_assertion(AssertionSpec("equals", "file:///nonexistent/x.txt"), ctx)
    assert not missing.passed and "cannot read the value file" in missing.reason


async def test_cost_and_latency_need_a_measurement() -> None:
    ctx = EvalContext(output=OUT, vars={}, prompt="p")
    result = await run_assertion(AssertionSpec("cost", threshold=1.0), ctx)
    assert not result.passed and "no cost was recorded" in result.reason


class _Embedder:
    """Vectors chosen by hand: similarity is exactly what the test says."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[text] for text in texts]


async def test_similar_uses_cosine_and_the_threshold() -> None:
    embedder = _Embedder({OUT: [1.0, 0.0], "near": [0.8, 0.6], "far": [0.0, 1.0]})
    ctx = _ctx(OUT, embedder=embedder)
    near = await run_assertion(AssertionSpec("similar", "near"), ctx)
    assert near.passed and near.score == pytest.approx(0.8)  # default threshold 0.75
    strict = await run_assertion(AssertionSpec("similar", "near", threshold=0.9), ctx)
    assert not strict.passed
    either = await run_assertion(AssertionSpec("similar", ["far", "near"]), ctx)
    assert either.passed and either.score == pytest.approx(0.8)
    not_similar = await run_assertion(AssertionSpec("not-similar", ["far", "near"]), ctx)
    assert not not_similar.passed  # too close to "near"
    assert (await run_assertion(AssertionSpec("not-similar", "far"), ctx)).passed


async def test_similar_default_embedder_works_offline() -> None:
    ctx = _ctx(OUT)
    close = await run_assertion(
        AssertionSpec("similar", "The capital city of France is Paris.", threshold=0.6), ctx
    )
    assert close.passed, close.reason
    unrelated = await run_assertion(
        AssertionSpec("similar", "Bananas are rich in potassium.", threshold=0.6), ctx
    )
    assert not unrelated.passed and unrelated.score < close.score


# -- aggregation ---------------------------------------------------------------------------


def _specs(*items: dict[str, Any]) -> list[AssertionSpec]:
    return [AssertionSpec.from_dict(item) for item in items]


async def test_weighted_mean_score_and_every_assertion_must_pass() -> None:
    specs = _specs(
        {"type": "contains", "value": "Paris", "weight": 3},
        {"type": "contains", "value": "Lyon", "weight": 1},
    )
    result = await evaluate(specs, _ctx(OUT))
    assert result.score == pytest.approx(0.75)
    assert not result.passed
    assert result.reason == 'Expected output to contain "Lyon"'
    assert [c.passed for c in result.components] == [True, False]


async def test_zero_weight_scores_nothing_but_still_gates() -> None:
    specs = _specs(
        {"type": "contains", "value": "Paris"},
        {"type": "contains", "value": "Lyon", "weight": 0},
    )
    result = await evaluate(specs, _ctx(OUT))
    assert result.score == 1.0 and not result.passed


async def test_test_threshold_overrides_individual_failures() -> None:
    specs = _specs(
        {"type": "contains", "value": "Paris", "weight": 3},
        {"type": "contains", "value": "Lyon"},
    )
    passing = await evaluate(specs, _ctx(OUT), threshold=0.7)
    assert passing.passed and passing.reason == "Aggregate score 0.75 ≥ 0.7 threshold"
    failing = await evaluate(specs, _ctx(OUT), threshold=0.8)
    assert not failing.passed and failing.reason == "Aggregate score 0.75 < 0.8 threshold"


async def test_assert_set_has_its_own_threshold_and_weight() -> None:
    specs = _specs(
        {
            "type": "assert-set",
            "threshold": 0.5,
            "weight": 2,
            "metric": "grounding",
            "assert": [
                {"type": "contains", "value": "Paris"},
                {"type": "contains", "value": "Lyon"},
            ],
        },
        {"type": "contains", "value": "Berlin"},
    )
    result = await evaluate(specs, _ctx(OUT))
    inner = result.components[0]
    assert inner.passed and inner.score == 0.5 and inner.assertion is specs[0]
    assert len(inner.components) == 2
    # (2 * 0.5 + 1 * 0) / 3; the set passed, Berlin failed, so the test fails.
    assert result.score == pytest.approx(1 / 3)
    assert not result.passed
    assert result.named_scores == {"grounding": 0.5}

    failing = _specs(
        {
            "type": "assert-set",
            "threshold": 0.9,
            "assert": [
                {"type": "contains", "value": "Paris"},
                {"type": "contains", "value": "Lyon"},
            ],
        }
    )
    assert not (await evaluate(failing, _ctx(OUT))).passed
    all_must_pass = _specs(
        {"type": "assert-set", "assert": [{"type": "contains", "value": "Lyon"}]}
    )
    assert not (await evaluate(all_must_pass, _ctx(OUT))).passed


async def test_named_metrics_average_per_name() -> None:
    specs = _specs(
        {"type": "contains", "value": "Paris", "metric": "accuracy"},
        {"type": "contains", "value": "Lyon", "metric": "accuracy", "weight": 3},
        {"type": "word-count", "value": {"max": 50}, "metric": "brevity"},
    )
    result = await evaluate(specs, _ctx(OUT))
    assert result.named_scores == {"accuracy": pytest.approx(0.25), "brevity": 1.0}


async def test_no_assertions_pass_and_unknown_types_fail() -> None:
    assert (await evaluate([], _ctx(OUT))).passed
    result = await evaluate([AssertionSpec("javascript", "output.length > 3")], _ctx(OUT))
    assert not result.passed and "Unknown assertion type 'javascript'" in result.reason


async def test_transforms_are_refused_rather_than_ignored() -> None:
    spec = AssertionSpec.from_dict({"type": "equals", "value": OUT, "transform": "output"})
    result = await run_assertion(spec, _ctx(OUT))
    assert not result.passed and "transforms are not supported" in result.reason


def test_unsupported_and_problems_name_the_field() -> None:
    specs = _specs(
        {"type": "javascript", "value": "x"},
        {"type": "assert-set", "assert": [{"type": "contains"}, {"type": "moderation"}]},
        {"type": "not-contains", "value": "x"},
        {"type": "equals", "value": "X", "transform": "output.toUpperCase()"},
    )
    assert unsupported_types(specs) == ["javascript", "moderation"]
    assert problems(specs) == [
        "assert[0].type: unsupported assertion type 'javascript'",
        "assert[1].assert[0].value: contains needs a value",
        "assert[1].assert[1].type: unsupported assertion type 'moderation'",
        "assert[3].transform: output transforms are not supported",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"value": "x"}, "assertion.type: required"),
        ({"type": "contains", "weight": "heavy"}, "assertion.weight"),
        ({"type": "contains", "weight": -1}, "assertion.weight"),
        ({"type": "similar", "threshold": "high"}, "assertion.threshold"),
        ({"type": "assert-set"}, "assertion.assert: assert-set needs"),
        ({"type": "assert-set", "assert": [{"type": 3}]}, "assertion.assert[0].assertion.type"),
        ({"type": "contains", "config": [1]}, "assertion.config"),
        ("contains", "expected a mapping"),
    ],
)
def test_from_dict_names_the_bad_field(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        AssertionSpec.from_dict(data)


def test_from_dict_reads_promptfoo_yaml() -> None:
    spec = AssertionSpec.from_dict(
        {
            "type": "not-icontains",
            "value": "sorry",
            "weight": 2,
            "metric": "tone",
            "provider": "openai:gpt-4o-mini",
        }
    )
    assert (spec.type, spec.base_type, spec.inverted) == ("not-icontains", "icontains", True)
    assert (spec.value, spec.weight, spec.metric) == ("sorry", 2.0, "tone")
    assert spec.provider == "openai:gpt-4o-mini"


async def test_components_keep_the_order_of_the_assertions() -> None:
    specs = _specs(
        {"type": "python", "value": "True"},  # awaited
        {"type": "contains", "value": "Paris"},  # run inline
        {"type": "assert-set", "assert": [{"type": "regex", "value": "x"}]},
        {"type": "similar", "value": OUT},
        {"type": "starts-with", "value": "The"},
    )
    result = await evaluate(specs, _ctx(OUT))
    assert [c.assertion for c in result.components] == specs
    assert [c.passed for c in result.components] == [True, True, False, True, True]


async def test_a_sync_handler_returning_an_awaitable_fails_cleanly() -> None:
    async def later(check: Check) -> GradingResult:
        return GradingResult(True, 1.0, "ok")

    register_assertion("test-sync-returns-awaitable", lambda check: later(check))
    result = await evaluate([AssertionSpec("test-sync-returns-awaitable", "v")], _ctx(OUT))
    assert not result.passed and "register an async def" in result.reason


# -- aggregation properties (Hypothesis) -----------------------------------------------------

_needles = st.lists(
    st.tuples(
        st.sampled_from(["Paris", "Lyon", "capital", "Berlin"]),
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(needles=_needles, threshold=st.none() | st.floats(min_value=0, max_value=1))
def test_aggregation_properties(
    needles: list[tuple[str, float, bool]], threshold: float | None
) -> None:
    import asyncio

    specs = [
        AssertionSpec(("not-" if negate else "") + "contains", needle, weight=weight)
        for needle, weight, negate in needles
    ]
    result = asyncio.run(evaluate(specs, _ctx(OUT), threshold=threshold))
    passes = [(needle in OUT) != negate for needle, _, negate in needles]
    total = sum(weight for _, weight, _ in needles)
    expected = (
        sum(w for (_, w, _), ok in zip(needles, passes, strict=True) if ok) / total
        if total > 0
        else 0.0
    )
    assert result.score == pytest.approx(expected)
    if threshold is None:
        assert result.passed is all(passes)
    else:
        assert result.passed is (result.score >= threshold)
    assert [c.passed for c in result.components] == passes
