"""Model-graded assertions: llm-rubric, model-graded-closedqa, factuality and select-best.

The grader is the assertion's ``provider`` (an id, a provider mapping or a provider) or else
the context's default ``grader``. Its model, temperature (default 0) and seed (default 0) are
explicit (``config: {model, temperature, seed}``), sent with each call and recorded on the
result (``GradingResult.judge``). promptfoo's ``rubricPrompt`` replaces a default grading
prompt. When the grader itself fails (no answer, unreadable answer)
the assertion fails with a "Judge error" reason that ``not-`` does not turn into a pass.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from promptloop.evals.assertions._registry import (
    AssertionValueError,
    Check,
    register_assertion,
    render_value,
)
from promptloop.evals.judge import (
    JudgeConfig,
    grader_error,
    json_objects,
    rubric_messages,
    tokens_of,
    verdict_from_json,
)
from promptloop.evals.providers import load_provider
from promptloop.evals.types import AssertionSpec, EvalContext, GradingResult, Provider

_LOADED: dict[str, Provider] = {}


def _provider(source: Any) -> Provider:
    """A grader provider, loaded once per distinct spec (so its limits and cache are shared)."""
    if not isinstance(source, str | Mapping):
        return load_provider(source)
    key = json.dumps(source, sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED[key] = load_provider(source)
    return _LOADED[key]


def judge_for(spec: AssertionSpec, ctx: EvalContext) -> JudgeConfig:
    """The judge for a model-graded assertion: its own provider, else the default grader."""
    source: Any = spec.provider if spec.provider is not None else ctx.grader
    if source is None:
        raise AssertionValueError(
            "needs a grader: set `provider` on the assertion or pass a default grader"
        )
    if isinstance(source, JudgeConfig):
        source = source.resolve()
    options = spec.config
    # A configured judge (JudgeConfig.resolve()) brings its settings; the assertion's config
    # overrides them one by one.
    base: JudgeConfig | None = getattr(source, "judge_config", None)
    if base is not None and not {"model", "temperature", "seed"} & set(options):
        return base
    if base is not None:
        source = base.base_provider
    temperature = options.get("temperature", base.temperature if base else 0.0)
    seed = options.get("seed", base.seed if base else 0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise AssertionValueError("config.temperature must be a number")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise AssertionValueError("config.seed must be an integer")
    model = options.get("model", base.model if base else None)
    return JudgeConfig(
        provider=_provider(source),
        model=str(model) if model else None,
        temperature=float(temperature),
        seed=seed,
    )


def custom_prompt(check: Check, values: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """promptfoo's ``rubricPrompt`` (on the assertion): text, a JSON list of chat messages or
    ``file://prompt.txt|json``, with ``{{output}}``/``{{rubric}}`` (llm-rubric) or
    ``{{input}}``, ``{{ideal}}``/``{{criteria}}``, ``{{completion}}`` and the test's variables
    filled in. None when the assertion has none."""
    template = check.spec.config.get("rubricPrompt")
    if template is None:
        return None
    if isinstance(template, str) and template.startswith("file://"):
        path = Path(template.removeprefix("file://"))
        try:
            template = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AssertionValueError(f"rubricPrompt: cannot read {path}: {exc}") from exc
    if isinstance(template, str) and template.lstrip().startswith("["):
        with contextlib.suppress(ValueError):  # else plain text that starts with "["
            template = json.loads(template)
    context = {**check.ctx.vars, **values}
    if isinstance(template, str):
        return [{"role": "user", "content": str(render_value(template, context))}]
    if isinstance(template, list) and all(
        isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in template
    ):
        return [
            {
                "role": str(m["role"]),
                "content": str(render_value(str(m.get("content", "")), context)),
            }
            for m in template
        ]
    raise AssertionValueError("rubricPrompt: expected text or a list of {role, content} messages")


def _invert(check: Check, result: GradingResult) -> GradingResult:
    if not check.inverse or (result.judge or {}).get("error"):
        return result
    result.passed = not result.passed
    result.score = 1.0 - result.score
    result.reason = ("Inverted: " if result.passed else "Inverted and failed: ") + result.reason
    return result


async def llm_rubric(check: Check) -> GradingResult:
    rubric_text = check.value if isinstance(check.value, str) else json.dumps(check.value)
    judge = judge_for(check.spec, check.ctx)
    messages = custom_prompt(check, {"output": check.output, "rubric": rubric_text})
    response = await judge.ask(messages or rubric_messages(check.output, rubric_text))
    result = verdict_from_json(response, judge, label="llm-rubric", threshold=check.spec.threshold)
    return _invert(check, result)


CLOSED_QA_SYSTEM = """You assess whether a submitted answer to a task meets a criterion.
[BEGIN DATA]
***
[Task]: {task}
***
[Submission]: {submission}
***
[Criterion]: {criterion}
***
[END DATA]
Does the submission meet the criterion? Reason step by step first, without stating the
conclusion at the outset. Then write only the single letter "Y" or "N" on its own line, and
repeat that letter alone on the final line."""


async def closed_qa(check: Check) -> GradingResult:
    if not isinstance(check.value, str) or not check.value:
        raise AssertionValueError("value must be the criterion, a non-empty string")
    judge = judge_for(check.spec, check.ctx)
    content = CLOSED_QA_SYSTEM.format(
        task=check.ctx.prompt, submission=check.output, criterion=check.value
    )
    values = {"input": check.ctx.prompt, "criteria": check.value, "completion": check.output}
    messages = custom_prompt(check, values) or [{"role": "system", "content": content}]
    response = await judge.ask(messages)
    if response.error or not response.output:
        return grader_error(response.error or "the judge returned no output", response, judge)
    answer = response.output.rstrip()
    passed = answer.endswith("Y")
    if passed:
        reason = f"The submission meets the criterion:\n{answer}"
    elif answer.endswith("N"):
        reason = f"The submission does not meet the criterion:\n{answer}"
    else:
        return grader_error(
            f"malformed answer (no final Y or N): {answer[-200:]!r}", response, judge
        )
    result = GradingResult(
        passed,
        1.0 if passed else 0.0,
        reason,
        grader_tokens=tokens_of(response),
        judge=judge.describe(),
    )
    return _invert(check, result)


FACTUALITY_CATEGORIES = {
    "A": "The submitted answer is a subset of the expert answer and is fully consistent with it.",
    "B": "The submitted answer is a superset of the expert answer and is fully consistent with it.",
    "C": "The submitted answer contains all the same details as the expert answer.",
    "D": "There is a disagreement between the submitted answer and the expert answer.",
    "E": (
        "The answers differ, but these differences don't matter from the perspective of factuality."
    ),
}
# promptfoo's default scores per category (options.factuality): only D fails by default.
FACTUALITY_SCORE_KEYS = {
    "A": "subset",
    "B": "superset",
    "C": "agree",
    "D": "disagree",
    "E": "differButFactual",
}
DEFAULT_FACTUALITY_SCORES = {"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0, "E": 1.0}

FACTUALITY_SYSTEM = (
    """You compare the factual content of a submitted answer with an expert
answer to the same question. Ignore differences of style, grammar or punctuation.
[BEGIN DATA]
************
[Question]: {question}
************
[Expert]: {expert}
************
[Submission]: {submission}
************
[END DATA]
The submission may be a subset or a superset of the expert answer, or conflict with it.
Choose exactly one category:
"""
    + "\n".join(f"({letter}) {text}" for letter, text in FACTUALITY_CATEGORIES.items())
    + """
Answer with one JSON object and nothing else: {{"category": "<A-E>", "reason": "<why>"}}"""
)


def factuality_scores(config: Mapping[str, Any]) -> dict[str, float]:
    """Per-category scores, overridable with ``config.factuality`` (promptfoo's names)."""
    overrides = config.get("factuality") or {}
    if not isinstance(overrides, Mapping):
        raise AssertionValueError("config.factuality must be a mapping of category scores")
    scores = dict(DEFAULT_FACTUALITY_SCORES)
    for letter, key in FACTUALITY_SCORE_KEYS.items():
        if key in overrides:
            value = overrides[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AssertionValueError(f"config.factuality.{key} must be a number")
            scores[letter] = float(value)
    return scores


def read_category(text: str) -> tuple[str, str] | None:
    """(category, reason) from a JSON answer, else from a legacy "(A) ..." answer."""
    for value in json_objects(text):
        if isinstance(value, dict) and isinstance(value.get("category"), str):
            letter = value["category"].strip().strip("()").upper()
            if letter in FACTUALITY_CATEGORIES:
                reason = str(value.get("reason") or "").strip()
                return letter, reason or f"Category {letter}: {FACTUALITY_CATEGORIES[letter]}"
            return None
    match = re.search(r"\(?([A-Ea-e])\)", text)
    if match is None:
        return None
    after = text[match.end() :].strip()
    return match.group(1).upper(), after or text.strip()


async def factuality(check: Check) -> GradingResult:
    if not isinstance(check.value, str) or not check.value:
        raise AssertionValueError("value must be the expert answer, a non-empty string")
    scores = factuality_scores(check.spec.config)
    judge = judge_for(check.spec, check.ctx)
    content = FACTUALITY_SYSTEM.format(
        question=check.ctx.prompt, expert=check.value, submission=check.output
    )
    values = {"input": check.ctx.prompt, "ideal": check.value, "completion": check.output}
    messages = custom_prompt(check, values) or [{"role": "system", "content": content}]
    response = await judge.ask(messages)
    if response.error or not response.output:
        return grader_error(response.error or "the judge returned no output", response, judge)
    read = read_category(response.output)
    if read is None:
        return grader_error(
            f"factuality answer did not name a category A-E: {response.output[:200]!r}",
            response,
            judge,
        )
    letter, reason = read
    score = scores[letter]
    result = GradingResult(
        score > 0,
        score,
        f"({letter}) {reason}",
        grader_tokens=tokens_of(response),
        judge={**judge.describe(), "category": letter},
    )
    return _invert(check, result)


SELECT_BEST_SYSTEM = """You compare several texts and choose the one that best fits these
criteria: {criteria}

{texts}

Answer with the index of the best text: a single integer and nothing else."""


async def select_best(spec: AssertionSpec, contexts: Sequence[EvalContext]) -> list[GradingResult]:
    """promptfoo's ``select-best``: the judge picks one output among several for the same
    test; that one passes, the others fail. Never raises: without two outputs, criteria or a
    grader every output fails with the reason."""
    criteria = render_value(spec.value, contexts[0].vars) if contexts else None
    try:
        if len(contexts) < 2:
            raise AssertionValueError("needs at least two outputs to compare (prompts x providers)")
        if not isinstance(criteria, str) or not criteria:
            raise AssertionValueError("value must be the criteria, a non-empty string")
        judge = judge_for(spec, contexts[0])
    except AssertionValueError as exc:  # like every assertion: fail, do not abort the run
        return [GradingResult(False, 0.0, f"select-best: {exc}", spec) for _ in contexts]
    texts = "\n\n".join(
        f'<Text index="{index}">\n{ctx.output}\n</Text>' for index, ctx in enumerate(contexts)
    )
    content = SELECT_BEST_SYSTEM.format(criteria=criteria, texts=texts)
    response = await judge.ask([{"role": "system", "content": content}])
    count = len(contexts)
    if response.error or not response.output:
        failure = grader_error(response.error or "the judge returned no output", response, judge)
        return [_for(spec, failure) for _ in range(count)]
    found = re.search(r"\d+", response.output)
    choice = int(found.group(0)) if found else -1
    if not 0 <= choice < count:
        failure = grader_error(
            f"invalid select-best verdict {response.output[:50]!r}", response, judge
        )
        return [_for(spec, failure) for _ in range(count)]
    results = []
    for index in range(count):
        chosen = (index == choice) != spec.inverted
        reason = (
            f"Output selected as the best: {criteria}"
            if index == choice
            else f"Output not selected: {criteria}"
        )
        results.append(
            GradingResult(
                chosen,
                1.0 if chosen else 0.0,
                reason,
                assertion=spec,
                grader_tokens=tokens_of(response) if index == 0 else 0,
                judge={**judge.describe(), "selected": choice},
            )
        )
    return results


def _for(spec: AssertionSpec, result: GradingResult) -> GradingResult:
    return GradingResult(
        result.passed, result.score, result.reason, spec, [], result.grader_tokens, result.judge
    )


async def _select_best_alone(check: Check) -> GradingResult:
    raise AssertionValueError(
        "select-best compares outputs across prompts or providers; it is applied by the run"
        " (promptloop.evals.assertions.select_best), not to a single output"
    )


register_assertion("llm-rubric", llm_rubric, model_graded=True)
register_assertion("model-graded-closedqa", closed_qa, model_graded=True)
register_assertion("factuality", factuality, model_graded=True, uses_reference=True)
register_assertion("select-best", _select_best_alone, model_graded=True)
