"""Turning what a person asks for (a dataset, prompts, providers, a judge, or a promptfoo
config) into a :class:`~promptloop.evals.runner.RunPlan`. The CLI and the HTTP API share it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptloop.evals import datasets, promptfoo, specs
from promptloop.evals.judge import JudgeConfig, calibrate_from_store
from promptloop.evals.providers import load_provider
from promptloop.evals.runner import (
    DEFAULT_CONCURRENCY,
    EvalCase,
    RunPlan,
    cases_from_items,
    resolve_prompt,
)
from promptloop.evals.types import AssertionSpec, Provider
from promptloop.store.base import Store

SPLIT_CHOICES = ("dev", "holdout", "all")
DEFAULT_OPENAI_GRADER = "openai:chat:gpt-4.1-2025-04-14"
DEFAULT_ANTHROPIC_GRADER = "anthropic:messages:claude-sonnet-4-20250514"


@dataclass
class RunRequest:
    """An eval run as asked for; every field has the CLI option's meaning."""

    dataset: str | None = None
    prompts: Sequence[str] = ()
    providers: Sequence[Any] = ()
    repeat: int = 1
    split: str = "all"
    judge: Any = None
    specs_dir: str | None = specs.DEFAULT_SPECS_DIR
    assertions: Sequence[Mapping[str, Any]] = ()
    concurrency: int = DEFAULT_CONCURRENCY
    description: str | None = None
    created_by: str | None = None
    cache_dir: Path | None = None
    config: str | None = None  # a promptfoo config file
    extra: dict[str, Any] = field(default_factory=dict)


def splits_of(split: str) -> tuple[str, ...]:
    if split not in SPLIT_CHOICES:
        raise ValueError(f"split: {split!r} is not one of {', '.join(SPLIT_CHOICES)}")
    return ("dev", "holdout") if split == "all" else (split,)


def _judge(
    store: Store, judge: Any, feature: str | None
) -> tuple[Provider | None, dict[str, Any] | None]:
    if judge is None:
        return None, None
    config = JudgeConfig.of(judge)
    try:
        grader = config.resolve()
    except ValueError as exc:
        raise ValueError(f"judge: {exc}") from None
    calibration = calibrate_from_store(store, feature=feature)
    return grader, {**config.describe(), "calibration": calibration.as_dict()}


def _providers(
    entries: Sequence[Any], cache_dir: Path | None, base_dir: Path | None
) -> list[Provider]:
    found = []
    for index, entry in enumerate(entries):
        try:
            found.append(load_provider(entry, cache_dir=cache_dir, base_dir=base_dir))
        except ValueError as exc:
            raise ValueError(f"providers[{index}]: {exc}") from None
    return found


def _check_assertions(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    for index, entry in enumerate(entries):
        try:
            AssertionSpec.from_dict(entry)
        except ValueError as exc:
            raise ValueError(f"assert[{index}]: {exc}") from None
    return [dict(entry) for entry in entries]


def dataset_plan(store: Store, request: RunRequest) -> RunPlan:
    if not request.dataset:
        raise ValueError("dataset: required (NAME or NAME@VERSION), or a promptfoo config")
    name, version = datasets.resolve(store, request.dataset)
    dataset = datasets.get_dataset(store, name, version)
    rows = datasets.items(store, name, version, status="accepted", splits=splits_of(request.split))
    features = {str(row["feature"]) for row in rows if row.get("feature")}
    by_feature = {
        feature: spec.assertions
        for feature, spec in (
            specs.load_specs(request.specs_dir) if request.specs_dir else {}
        ).items()
        if feature in features
    }
    cases = cases_from_items(
        rows, specs_by_feature=by_feature, extra=_check_assertions(request.assertions)
    )
    grader, judge = _judge(store, request.judge, dataset.get("feature"))
    return RunPlan(
        prompts=[resolve_prompt(store, ref) for ref in request.prompts],
        providers=_providers(request.providers, request.cache_dir, None),
        cases=cases,
        repeat=request.repeat,
        dataset=name,
        dataset_version=version,
        grader=grader,
        judge=judge,
        concurrency=request.concurrency,
        description=request.description,
        created_by=request.created_by,
        extra={
            "split": request.split,
            "specs": {feature: len(found) for feature, found in by_feature.items()},
            "candidates_skipped": int(dataset.get("candidate") or 0),
            **request.extra,
        },
    )


def promptfoo_plan(store: Store, request: RunRequest) -> tuple[RunPlan, list[str]]:
    """The plan for a promptfoo config, and what of the config cannot run."""
    assert request.config is not None
    loaded = promptfoo.load_config(request.config)
    name, version = promptfoo.store_tests(store, loaded, created_by=request.created_by)
    rows = datasets.items(store, name, version, status="accepted", splits=("dev", "holdout"))
    cases = cases_from_items(rows, extra=_check_assertions(request.assertions))
    chosen = request.judge or loaded.judge
    if chosen is None and _needs_judge(cases):
        chosen = default_grader()
    grader, judge = _judge(store, chosen, None)
    plan = RunPlan(
        prompts=loaded.prompts,
        providers=_providers(loaded.providers, request.cache_dir, loaded.base_dir),
        cases=cases,
        repeat=request.repeat if request.repeat != 1 else int(loaded.repeat or 1),
        dataset=name,
        dataset_version=version,
        grader=grader,
        judge=judge,
        concurrency=int(loaded.concurrency or request.concurrency),
        description=request.description or loaded.description,
        created_by=request.created_by,
        extra={
            "promptfoo_config": str(Path(request.config).resolve()),
            "unsupported": loaded.unsupported,
            **request.extra,
        },
    )
    return plan, loaded.unsupported


def plan_for(store: Store, request: RunRequest) -> tuple[RunPlan, list[str]]:
    if request.config:
        return promptfoo_plan(store, request)
    return dataset_plan(store, request), []


def default_grader() -> str | None:
    """promptfoo's default grader when a config names none: OpenAI when its key or base URL
    is set, else Anthropic when its key is (promptfoo's documented choice)."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return DEFAULT_OPENAI_GRADER
    if os.environ.get("ANTHROPIC_API_KEY"):
        return DEFAULT_ANTHROPIC_GRADER
    return None


def _needs_judge(cases: Sequence[EvalCase]) -> bool:
    return bool(_graded_types(cases))


def needs_judge(plan: RunPlan) -> list[str]:
    """Model-graded assertion types in the plan (a judge must be configured for them)."""
    return _graded_types(plan.cases)


def _graded_types(cases: Sequence[EvalCase]) -> list[str]:
    graded = {"llm-rubric", "model-graded-closedqa", "factuality", "select-best", "g-eval"}
    found = set()
    for case in cases:
        for spec in case.assertions:
            kind = str(spec.get("type", "")).removeprefix("not-")
            if kind in graded and not spec.get("provider"):
                found.add(kind)
            for child in spec.get("assert") or []:
                child_kind = str(child.get("type", "")).removeprefix("not-")
                if child_kind in graded and not child.get("provider"):
                    found.add(child_kind)
    return sorted(found)
