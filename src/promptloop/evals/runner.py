"""Eval runs: a matrix of prompt versions x providers x dataset items, with repeats.

A run renders each prompt with each item's variables, calls each provider (``repeat``
times: repeats bypass the response cache, so they measure non-determinism), grades every
output with the item's assertions (its own, its feature's quality spec, and the run's), and
stores one row per (item, prompt, provider, repeat) in ``eval_results``. ``select-best``
assertions compare the outputs of every prompt and provider for the same item and repeat.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptloop.core.prompts import content_hash, variables_of
from promptloop.core.records import utc_now
from promptloop.evals import holdout
from promptloop.evals._rows import dumps
from promptloop.evals.datasets import INPUT_VAR
from promptloop.evals.types import (
    AssertionSpec,
    ChatMessages,
    EvalContext,
    GradingResult,
    Provider,
    ProviderRequest,
    ProviderResponse,
)
from promptloop.exceptions import NotFoundError
from promptloop.prompts import PromptRegistry
from promptloop.prompts.files import parse_prompt_file
from promptloop.store.base import Store

DEFAULT_CONCURRENCY = 8
# Prompt settings that pick the model belong to the provider, not to the request.
_PROVIDER_SETTINGS = frozenset({"model"})

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PromptUnderTest:
    """One prompt of the matrix: a registry version or a file, with its content hash."""

    label: str
    template: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    prompt_name: str | None = None
    prompt_version: str | None = None

    @property
    def prompt_hash(self) -> str:
        return content_hash(self.template, dict(self.settings))

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
            "prompt_hash": self.prompt_hash,
            "settings": dict(self.settings),
            "template": self.template,
        }


@dataclass
class EvalCase:
    """One dataset item as the runner sees it."""

    item_id: str
    vars: Mapping[str, Any]
    assertions: list[dict[str, Any]]
    split: str = "dev"
    reference: str | None = None
    description: str | None = None


@dataclass
class RunPlan:
    prompts: list[PromptUnderTest]
    providers: list[Provider]
    cases: list[EvalCase]
    repeat: int = 1
    dataset: str | None = None
    dataset_version: int | None = None
    grader: Provider | None = None
    judge: dict[str, Any] | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    description: str | None = None
    created_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not self.prompts:
            raise ValueError("prompts: give at least one prompt version or prompt file")
        if not self.providers:
            raise ValueError("providers: give at least one provider")
        if not self.cases:
            raise ValueError(
                "dataset: no accepted items to evaluate (accept candidates with "
                "`promptloop dataset accept ITEM --expect ...`)"
            )
        if not 1 <= self.repeat <= 100:
            raise ValueError("repeat: must be between 1 and 100")
        if not 1 <= self.concurrency <= 256:
            raise ValueError("concurrency: must be between 1 and 256")
        labels = [p.label for p in self.prompts]
        if len(set(labels)) != len(labels):
            raise ValueError(f"prompts: labels must differ, got {labels}")
        ids = [provider.id for provider in self.providers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"providers: ids must differ, got {ids} (give each a label)")


# ---------------------------------------------------------------------- prompts


def resolve_prompt(
    store: Store | None, reference: str, *, base_dir: Path | None = None
) -> PromptUnderTest:
    """``NAME@VERSION`` or ``NAME@LABEL`` from the registry, or a prompt file (``file://`` too)."""
    path_text = reference.removeprefix("file://")
    path = Path(path_text)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if reference.startswith("file://") or path.is_file():
        if not path.is_file():
            raise ValueError(f"prompt: no file {path}")
        parsed = parse_prompt_file(path.stem, path, path.read_text(encoding="utf-8"))
        # The file's name, not its path: labels name cells in "RUN/PROMPT/PROVIDER".
        return PromptUnderTest(label=path.name, template=parsed.template, settings=parsed.settings)
    name, sep, pointer = reference.partition("@")
    if store is None:
        raise ValueError(f"prompt: {reference!r} is not a file and no store is open")
    registry = PromptRegistry(store)
    try:
        if sep and (pointer[:1].isdigit() or (pointer[:1] == "v" and pointer[1:2].isdigit())):
            found = registry.resolve(name, version=pointer)
        else:
            found = registry.resolve(name, label=pointer or None)
    except NotFoundError as exc:
        raise ValueError(f"prompt: {exc}") from None
    return PromptUnderTest(
        label=f"{found.prompt_name}@{found.version}",
        template=found.template,
        settings=found.settings,
        prompt_name=found.prompt_name,
        prompt_version=found.version,
    )


def build_prompt(template: str, variables: Mapping[str, Any]) -> str | ChatMessages:
    """The prompt a provider gets for one item.

    A template that uses variables is rendered (missing ones render empty, as promptfoo
    does). A template without variables is a system prompt: the item's user input follows
    it as the user's message, as it did in production.
    """
    names = variables_of(template)
    if names:
        from promptloop.core.prompts import render

        values = {name: _text(variables.get(name)) for name in names}
        return render(template, values)
    user = variables.get(INPUT_VAR)
    if user is None:
        return template
    return [{"role": "system", "content": template}, {"role": "user", "content": _text(user)}]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def prompt_text(prompt: str | ChatMessages) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"{m.get('role')}: {m.get('content')}" for m in prompt)


# ---------------------------------------------------------------------- running


@dataclass
class _Cell:
    case: EvalCase
    prompt: PromptUnderTest
    provider: Provider
    repeat: int
    response: ProviderResponse | None = None
    rendered: str | ChatMessages = ""
    grade: GradingResult | None = None


async def _grade(
    specs: list[AssertionSpec], context: EvalContext, response: ProviderResponse
) -> GradingResult:
    from promptloop.evals import assertions

    if response.error:
        return GradingResult(False, 0.0, f"provider error: {response.error}")
    if not specs:
        return GradingResult(True, 1.0, "no assertions: passes when the provider answers")
    try:
        return await assertions.evaluate(specs, context)
    except ValueError as exc:
        return GradingResult(False, 0.0, f"assertion error: {exc}")


def _context(cell: _Cell, grader: Provider | None) -> EvalContext:
    response = cell.response or ProviderResponse(output="")
    return EvalContext(
        output=response.output,
        vars=cell.case.vars,
        prompt=prompt_text(cell.rendered),
        reference=cell.case.reference,
        latency_ms=response.latency_ms,
        cost_usd=response.cost_usd,
        provider_id=cell.provider.id,
        grader=grader,
    )


def _split_specs(case: EvalCase) -> tuple[list[AssertionSpec], list[AssertionSpec]]:
    specs = [AssertionSpec.from_dict(spec) for spec in case.assertions]
    best = [spec for spec in specs if spec.base_type == "select-best"]
    return [spec for spec in specs if spec.base_type != "select-best"], best


async def _run_cell(
    cell: _Cell, plan: RunPlan, gate: asyncio.Semaphore, tick: Callable[[], None]
) -> None:
    async with gate:
        cell.rendered = build_prompt(cell.prompt.template, cell.case.vars)
        settings = {k: v for k, v in cell.prompt.settings.items() if k not in _PROVIDER_SETTINGS}
        request = ProviderRequest(cell.rendered, cell.case.vars, settings, cell.repeat)
        started = time.perf_counter()
        try:
            cell.response = await cell.provider.call(request)
        except Exception as exc:  # a provider that raises is one failed cell, not a failed run
            elapsed = (time.perf_counter() - started) * 1000
            cell.response = ProviderResponse(
                output="", error=f"{type(exc).__name__}: {exc}", latency_ms=elapsed
            )
        specs, _ = _split_specs(cell.case)
        cell.grade = await _grade(specs, _context(cell, plan.grader), cell.response)
    tick()


async def _select_best(cells: list[_Cell], plan: RunPlan) -> None:
    """Apply each item's select-best assertions across its cells of the same repeat."""
    groups: dict[tuple[str, int], list[_Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.case.item_id, cell.repeat), []).append(cell)
    from promptloop.evals import assertions

    for group in groups.values():
        _, best = _split_specs(group[0].case)
        for spec in best:
            verdicts = await assertions.select_best(
                spec, [_context(cell, plan.grader) for cell in group]
            )
            for cell, verdict in zip(group, verdicts, strict=True):
                cell.grade = _combine(cell.grade, verdict)


def _combine(base: GradingResult | None, extra: GradingResult) -> GradingResult:
    if base is None:
        return extra
    parts = [*(base.components or [base]), extra]
    score = sum(part.score for part in parts) / len(parts)
    return GradingResult(
        passed=base.passed and extra.passed,
        score=score,
        reason=base.reason if not base.passed else extra.reason,
        components=parts,
        grader_tokens=base.grader_tokens + extra.grader_tokens,
    )


def _component_json(result: GradingResult) -> list[dict[str, Any]]:
    found = []
    for part in result.components:
        spec = part.assertion
        found.append(
            {
                "type": spec.type if spec else None,
                "metric": spec.metric if spec else None,
                "value": spec.value if spec and isinstance(spec.value, str | int | float) else None,
                "passed": part.passed,
                "score": part.score,
                "reason": part.reason,
                "judge": part.judge,
            }
        )
    return found


def _result_row(run_id: str, cell: _Cell, now: Any) -> dict[str, Any]:
    response = cell.response or ProviderResponse(output="", error="not run")
    grade = cell.grade or GradingResult(False, 0.0, "not graded")
    return {
        "result_id": uuid.uuid4().hex,
        "run_id": run_id,
        "item_id": cell.case.item_id,
        "split": cell.case.split,
        "prompt_label": cell.prompt.label,
        "prompt_name": cell.prompt.prompt_name,
        "prompt_version": cell.prompt.prompt_version,
        "prompt_hash": cell.prompt.prompt_hash,
        "provider_id": cell.provider.id,
        "provider_label": cell.provider.label or cell.provider.id,
        "repeat_index": cell.repeat,
        "output": response.output,
        "error": response.error,
        "passed": bool(grade.passed),
        "score": float(grade.score),
        "reason": grade.reason,
        "components": dumps(_component_json(grade)),
        "latency_ms": response.latency_ms,
        "input_tokens": response.input_tokens,
        "output_tokens": response.output_tokens,
        "cost_usd": response.cost_usd,
        "cached": bool(response.cached),
        "created_at": now,
    }


def _config(plan: RunPlan) -> dict[str, Any]:
    return {
        "prompts": [prompt.describe() for prompt in plan.prompts],
        "providers": [{"id": p.id, "label": p.label} for p in plan.providers],
        "repeat": plan.repeat,
        "items": len(plan.cases),
        "judge": plan.judge,
        "concurrency": plan.concurrency,
        **plan.extra,
    }


async def execute(store: Store, plan: RunPlan, *, progress: Progress | None = None) -> str:
    """Run ``plan``, store its results, and return the run's ID."""
    plan.check()
    run_id = uuid.uuid4().hex[:12]
    held = sum(1 for case in plan.cases if case.split == "holdout")
    splits = ",".join(sorted({case.split for case in plan.cases}))
    store.insert_rows(
        "eval_runs",
        [
            {
                "run_id": run_id,
                "dataset": plan.dataset,
                "dataset_version": plan.dataset_version,
                "created_at": utc_now(),
                "finished_at": None,
                "status": "running",
                "splits": splits,
                "description": plan.description,
                "created_by": plan.created_by,
                "config": dumps(_config(plan)),
                "summary": None,
            }
        ],
    )
    if held and plan.dataset and plan.dataset_version is not None:
        holdout.record_access(
            store,
            plan.dataset,
            plan.dataset_version,
            kind="run",
            items=held,
            actor=plan.created_by,
            run_id=run_id,
        )
    cells = [
        _Cell(case, prompt, provider, repeat)
        for case in plan.cases
        for prompt in plan.prompts
        for provider in plan.providers
        for repeat in range(plan.repeat)
    ]
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(cells))

    gate = asyncio.Semaphore(plan.concurrency)
    try:
        await asyncio.gather(*(_run_cell(cell, plan, gate, tick) for cell in cells))
        await _select_best(cells, plan)
    except BaseException:
        store.execute(
            "UPDATE eval_runs SET status = 'failed', finished_at = :at WHERE run_id = :id",
            {"at": utc_now(), "id": run_id},
        )
        raise
    now = utc_now()
    store.insert_rows("eval_results", [_result_row(run_id, cell, now) for cell in cells])
    from promptloop.evals.reports import run_summary

    summary = run_summary(store, run_id)
    store.execute(
        "UPDATE eval_runs SET status = 'finished', finished_at = :at, summary = :summary"
        " WHERE run_id = :id",
        {"at": utc_now(), "summary": dumps(summary), "id": run_id},
    )
    return run_id


def run(store: Store, plan: RunPlan, *, progress: Progress | None = None) -> str:
    """:func:`execute` from synchronous code."""
    return asyncio.run(execute(store, plan, progress=progress))


def cases_from_items(
    rows: Sequence[Mapping[str, Any]],
    *,
    specs_by_feature: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    extra: Sequence[Mapping[str, Any]] = (),
) -> list[EvalCase]:
    """Accepted dataset items as cases: own assertions + feature spec + run assertions."""
    from promptloop.evals.formats import item_assertions

    found = []
    for row in rows:
        spec = list((specs_by_feature or {}).get(str(row.get("feature")), []))
        found.append(
            EvalCase(
                item_id=str(row["item_id"]),
                vars=dict(row.get("vars") or {INPUT_VAR: row.get("input")}),
                assertions=[*item_assertions(row), *map(dict, spec), *map(dict, extra)],
                split=str(row.get("split") or "dev"),
                reference=row.get("reference"),
                description=row.get("input"),
            )
        )
    return found
