"""Runs, quality specs, comparisons and the gate, on real stores.

The providers here are small real objects implementing the Provider protocol (answers chosen
by the prompt), so the matrix, repeats and flips are exact; the openai/anthropic clients are
driven against the scripted server in test_done_when.py and test_promptfoo.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from statsmodels.stats.contingency_tables import mcnemar

from promptloop.evals import datasets, reports, runner, specs
from promptloop.evals.datasets import NewItem
from promptloop.evals.planning import RunRequest, dataset_plan
from promptloop.evals.runner import EvalCase, PromptUnderTest, RunPlan
from promptloop.evals.types import ProviderRequest, ProviderResponse
from promptloop.prompts import PromptRegistry
from promptloop.store.base import Store


class Scripted:
    """A provider whose answer is a function of the prompt text and the repeat index."""

    def __init__(self, ident: str, answer: Callable[[str, int], str]) -> None:
        self.id = ident
        self.label = ident
        self.answer = answer
        self.calls = 0

    async def call(self, request: ProviderRequest) -> ProviderResponse:
        self.calls += 1
        text = runner.prompt_text(request.prompt)
        if "EXPLODE" in text:
            raise RuntimeError("connection reset")
        return ProviderResponse(
            output=self.answer(text, request.repeat),
            input_tokens=3,
            output_tokens=2,
            cost_usd=0.001,
            latency_ms=5.0,
        )


def _case(n: int, split: str = "dev", **extra: object) -> EvalCase:
    return EvalCase(
        item_id=f"i{n}",
        vars={"user_input": f"question {n}"},
        assertions=[{"type": "not-icontains", "value": "great question"}],
        split=split,
        **extra,  # type: ignore[arg-type]
    )


def _answer(text: str, repeat: int) -> str:
    if "FILLER" in text:
        return "Great question! Here you go."
    if "question 3" in text:  # non-deterministic: fails on odd repeats
        return "Great question!" if repeat % 2 else "Open Settings."
    return "Open Settings."


def test_matrix_repeats_flips_and_errors(store: Store) -> None:
    store.migrate()
    provider = Scripted("scripted:a", _answer)
    plan = RunPlan(
        prompts=[
            PromptUnderTest(label="old", template="FILLER system prompt"),
            PromptUnderTest(label="new", template="Answer {{user_input}} directly."),
        ],
        providers=[provider],
        cases=[_case(n) for n in range(5)] + [_case(5, "holdout")],
        repeat=2,
    )
    plan.cases[4].vars = {"user_input": "EXPLODE"}
    run_id = runner.run(store, plan)
    assert provider.calls == 6 * 2 * 2
    run = reports.get_run(store, run_id)
    assert run["status"] == "finished" and run["splits"] == "dev,holdout"
    cells = {c["prompt_label"]: c for c in run["summary"]["cells"]}
    old, new = cells["old"], cells["new"]
    assert old["pass_rate"]["count"] == 0 and old["errors"] == 2
    # "new": items 0,1,2,5 pass twice, item 3 passes once (a flip), item 4 errors.
    assert new["pass_rate"]["count"] == 9 and new["pass_rate"]["n"] == 12
    assert new["flipped_items"] == 1 and new["flip_rate"] == pytest.approx(1 / 6)
    assert new["splits"]["holdout"] == {**new["splits"]["holdout"], "count": 2, "n": 2}
    assert new["metrics"]["not-icontains"]["n"] == 10
    assert new["cost_usd"] == pytest.approx(0.01)
    rows = reports.results(store, run_id)
    errored = next(r for r in rows if r["item_id"] == "i4" and r["prompt_label"] == "new")
    assert errored["error"] == "RuntimeError: connection reset"
    assert errored["reason"].startswith("provider error")
    hidden = [r for r in rows if r["split"] == "holdout"]
    assert hidden and all(r["output"] is None and r["hidden"] for r in hidden)


def test_system_prompt_templates_send_the_input_as_the_user_message() -> None:
    assert runner.build_prompt("Be brief.", {"user_input": "hi"}) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert runner.build_prompt("Q: {{ userInput }} {{missing}}", {"userInput": "hi"}) == "Q: hi "


def test_plan_checks_name_the_field() -> None:
    provider = Scripted("s", _answer)
    prompt = PromptUnderTest(label="p", template="t")
    with pytest.raises(ValueError, match="prompts"):
        RunPlan(prompts=[], providers=[provider], cases=[_case(0)]).check()
    with pytest.raises(ValueError, match="dataset"):
        RunPlan(prompts=[prompt], providers=[provider], cases=[]).check()
    with pytest.raises(ValueError, match="providers: ids must differ"):
        RunPlan(prompts=[prompt], providers=[provider, provider], cases=[_case(0)]).check()


def test_select_best_compares_the_outputs_of_one_item(duck: Store) -> None:
    grader = Scripted("judge", lambda text, _: "1")  # always picks the second output
    plan = RunPlan(
        prompts=[
            PromptUnderTest(label="a", template="A {{user_input}}"),
            PromptUnderTest(label="b", template="B {{user_input}}"),
        ],
        providers=[Scripted("s", lambda text, _: text)],
        cases=[EvalCase("i0", {"user_input": "x"}, [{"type": "select-best", "value": "best"}])],
        grader=grader,
    )
    run_id = runner.run(duck, plan)
    verdicts = {r["prompt_label"]: r["passed"] for r in reports.results(duck, run_id)}
    assert verdicts == {"a": False, "b": True}


def test_quality_spec_expands_and_applies_to_its_feature(duck: Store, tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "support.yaml").write_text(
        "feature: support\nproperties:\n"
        "  - must not contain: Great question\n"
        "    description: no filler\n"
        "  - max words: 5\n"
        "  - type: regex\n    value: '^[A-Z]'\n"
    )
    loaded = specs.load_specs(folder)["support"]
    assert loaded.assertions == [
        {"type": "not-icontains", "value": "Great question", "metric": "no filler"},
        {"type": "word-count", "value": {"max": 5}, "metric": "word-count"},
        {"type": "regex", "value": "^[A-Z]", "metric": "regex ^[A-Z]"},
    ]
    with pytest.raises(ValueError, match=r"properties\[0\]"):
        specs.parse_spec({"feature": "x", "properties": ["just text"]})
    with pytest.raises(ValueError, match="feature"):
        specs.parse_spec({"properties": [{"must": "x"}]})
    PromptRegistry(duck).register("assistant", "Answer {{user_input}}.")
    items = [
        NewItem(input="hi", vars={"user_input": "hi"}, feature="support"),
        NewItem(input="yo", vars={"user_input": "yo"}, feature="other"),
    ]
    datasets.create_version(duck, "d", items, holdout_fraction=0.0)
    request = RunRequest(
        dataset="d", prompts=["assistant@1.0.0"], providers=["echo"], specs_dir=str(folder)
    )
    plan = dataset_plan(duck, request)
    by_item = {case.vars["user_input"]: case.assertions for case in plan.cases}
    assert len(by_item["hi"]) == 3 and by_item["yo"] == []
    assert plan.prompts[0].label == "assistant@1.0.0"
    run_id = runner.run(duck, plan)
    cell = reports.get_run(duck, run_id)["summary"]["cells"][0]
    assert set(cell["metrics"]) == {"no filler", "word-count", "regex ^[A-Z]"}


def _outcomes(store: Store, a: list[bool], b: list[bool]) -> tuple[str, str]:
    store.migrate()
    answers = {("A", n): ok for n, ok in enumerate(a)} | {("B", n): ok for n, ok in enumerate(b)}

    def answer(text: str, _: int) -> str:
        side, number = text.split()[0], int(text.split()[-1])
        return "fine" if answers[(side, number)] else "Great question!"

    plan = RunPlan(
        prompts=[
            PromptUnderTest(label="A", template="A {{n}}"),
            PromptUnderTest(label="B", template="B {{n}}"),
        ],
        providers=[Scripted("s", answer)],
        cases=[
            EvalCase(f"i{n}", {"n": n}, [{"type": "not-icontains", "value": "great question"}])
            for n in range(len(a))
        ],
    )
    run_id = runner.run(store, plan)
    return f"{run_id}/A", f"{run_id}/B"


def test_compare_pairs_items_and_tests_with_mcnemar(store: Store) -> None:
    a = [True] * 20 + [False] * 10
    b = [True] * 10 + [False] * 10 + [True] * 1 + [False] * 9  # 10 broken, 1 fixed
    side_a, side_b = _outcomes(store, a, b)
    found = reports.compare_runs(store, side_a, side_b)
    counts = (found["fixed"], found["broken"], found["both_pass"], found["both_fail"])
    assert counts == (1, 10, 10, 9)
    expected = mcnemar([[10, 10], [1, 9]], exact=True).pvalue
    assert found["mcnemar"]["p_value"] == pytest.approx(expected)
    assert found["score_difference"]["mean"] == pytest.approx(-9 / 30)
    assert found["score_difference"]["high"] < 0
    assert found["changes"][0]["change"] == "broken"
    gate = reports.gate(store, side_a, side_b, min_pass_rate=0.5)
    assert not gate["passed"]
    assert any("below the minimum 50.0%" in r for r in gate["reasons"])
    assert any("paired bootstrap" in r for r in gate["reasons"])
    assert any("significantly worse: 10 items broken, 1 fixed" in r for r in gate["reasons"])
    assert reports.gate(store, side_b, side_a)["passed"]  # the reverse direction improves


def test_paired_bootstrap_interval_covers_the_mean_and_is_reproducible() -> None:
    values = [0.1, -0.2, 0.3, 0.0, 0.25, 0.05, 0.15, -0.05]
    first = reports.paired_bootstrap(values)
    assert first == reports.paired_bootstrap(values)
    low, mean, high = first["low"], first["mean"], first["high"]
    assert low is not None and mean is not None and high is not None
    assert low < mean < high
    assert reports.paired_bootstrap([0.0, 0.0])["p_value"] == 1.0
    assert reports.mcnemar_test(0, 0)["p_value"] == 1.0


def test_sides_name_cells_even_when_labels_contain_slashes(duck: Store) -> None:
    plan = RunPlan(
        prompts=[PromptUnderTest(label="team/prompt@1.0.0", template="x {{n}}")],
        providers=[Scripted("http://127.0.0.1:9/v1/x", lambda t, _: "ok")],
        cases=[EvalCase(f"i{n}", {"n": n}, []) for n in range(3)],
    )
    run_id = runner.run(duck, plan)
    side = reports.parse_side(duck, f"{run_id[:6]}/team/prompt@1.0.0/http://127.0.0.1:9/v1/x")
    assert (side.run_id, side.prompt_label, side.provider_id) == (
        run_id,
        "team/prompt@1.0.0",
        "http://127.0.0.1:9/v1/x",
    )
    assert reports.parse_side(duck, f"{run_id}/team/prompt@1.0.0").provider_id is None
    with pytest.raises(ValueError, match="has no prompt"):
        reports.parse_side(duck, f"{run_id}/nope")


def test_item_ids_are_stable(duck: Store) -> None:
    items = [NewItem(input=f"q{n}") for n in range(3)]
    datasets.create_version(duck, "s", items)
    ids = [row["item_id"] for row in datasets.items(duck, "s", 1, splits=("dev", "holdout"))]
    assert len(set(ids)) == 3 and all(len(i) == 12 for i in ids)
