"""Running a promptfoo config (``promptfooconfig.yaml``) unchanged.

Supported: ``description``, ``prompts`` (inline text, ``file://`` paths, ``{id, label, raw}``
mappings), ``providers`` (ids or ``{id, label, config}`` mappings), ``tests`` (a list, or
``file://`` to a YAML/JSON/JSONL/CSV file of tests) with ``vars``, ``assert``, ``description``
and ``metadata``, ``defaultTest`` (``vars``, ``assert``, ``options.provider`` as the judge)
and ``evaluateOptions`` (``maxConcurrency``, ``repeat``). Anything else is named in
:attr:`PromptfooPlan.unsupported` and skipped; an unsupported provider or assertion type is
an error naming it, because running without it would change the verdict.

The tests become a dataset (``promptfoo-<config name>``, no holdout: hand-written tests
are not tuned against in the same way), so runs of a config are stored and browsable like any
other run.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from promptloop.evals import datasets
from promptloop.evals._rows import stable_id
from promptloop.evals.datasets import NewItem
from promptloop.evals.runner import PromptUnderTest, resolve_prompt
from promptloop.evals.types import AssertionSpec

SUPPORTED_KEYS = frozenset(
    {"description", "prompts", "providers", "tests", "defaultTest", "evaluateOptions"}
)
IGNORED_KEYS = frozenset({"outputPath", "sharing", "writeLatestResults", "$schema", "tags"})


@dataclass
class PromptfooTest:
    description: str | None
    vars: dict[str, Any]
    assertions: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class PromptfooPlan:
    description: str | None
    prompts: list[PromptUnderTest]
    providers: list[Any]  # ids or mappings, as load_provider takes them
    tests: list[PromptfooTest]
    judge: Any = None
    concurrency: int | None = None
    repeat: int | None = None
    unsupported: list[str] = field(default_factory=list)
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def dataset_name(self) -> str:
        return "promptfoo-" + _slug(self.description or "config")


def _slug(text: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60] or "config"


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str | Mapping):
        return [value]
    raise ValueError(f"{where}: expected a list")


def _prompt(entry: Any, index: int, base_dir: Path) -> PromptUnderTest:
    where = f"prompts[{index}]"
    if isinstance(entry, str):
        if entry.startswith("file://"):
            return _file_prompt(entry, None, base_dir, where)
        return PromptUnderTest(label=_short(entry), template=entry)
    if isinstance(entry, Mapping):
        label = entry.get("label")
        if isinstance(entry.get("raw"), str):
            return PromptUnderTest(label=str(label or _short(entry["raw"])), template=entry["raw"])
        ident = entry.get("id") or entry.get("path")
        if isinstance(ident, str):
            if not ident.startswith("file://") and not (base_dir / ident).is_file():
                raise ValueError(f"{where}.id: {ident!r} is not a file:// path")
            return _file_prompt(ident, label, base_dir, where)
        raise ValueError(f"{where}: needs 'raw' text or an 'id' with a file:// path")
    raise ValueError(f"{where}: expected text or a mapping")


def _file_prompt(reference: str, label: Any, base_dir: Path, where: str) -> PromptUnderTest:
    path_text = reference.removeprefix("file://")
    if any(ch in path_text for ch in "*?["):
        raise ValueError(f"{where}: globs in prompt paths are not supported: {reference}")
    try:
        found = resolve_prompt(None, "file://" + str(base_dir / path_text))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return PromptUnderTest(
        label=str(label or Path(path_text).name), template=found.template, settings=found.settings
    )


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 50 else flat[:49] + "…"


def _provider(entry: Any, index: int) -> Any:
    from promptloop.evals.providers import supported_provider

    where = f"providers[{index}]"
    ident: Any
    if isinstance(entry, str):
        ident = entry
    elif isinstance(entry, Mapping):
        ident = entry.get("id")
        if ident is None and len(entry) == 1:  # {"openai:chat:gpt-4o": {config: ...}}
            ident = next(iter(entry))
        if not isinstance(ident, str):
            raise ValueError(f"{where}.id: required, a provider id")
    else:
        raise ValueError(f"{where}: expected an id or a mapping")
    if not supported_provider(ident):
        raise ValueError(f"{where}.id: provider {ident!r} is not supported by promptloop")
    return entry


def _check_assertions(raw: Any, where: str) -> list[dict[str, Any]]:
    from promptloop.evals.assertions import problems

    found = []
    for index, entry in enumerate(_as_list(raw, where)):
        try:
            spec = AssertionSpec.from_dict(entry)
        except ValueError as exc:
            raise ValueError(f"{where}[{index}].{exc}") from None
        for problem in problems([spec]):
            raise ValueError(f"{where}[{index}]{problem.removeprefix('assert[0]')}")
        found.append(dict(entry))
    return found


def _tests(raw: Any, base_dir: Path) -> list[Any]:
    if isinstance(raw, str):
        return _tests_file(raw, base_dir)
    entries: list[Any] = []
    for entry in _as_list(raw, "tests"):
        entries.extend(_tests_file(entry, base_dir) if isinstance(entry, str) else [entry])
    return entries


def _tests_file(reference: str, base_dir: Path) -> list[Any]:
    path = base_dir / reference.removeprefix("file://")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"tests: cannot read {path}: {exc.strerror}") from None
    if path.suffix == ".csv":
        return [_csv_test(row) for row in csv.DictReader(io.StringIO(text))]
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, list) else _as_list((loaded or {}).get("tests"), "tests")


def _csv_test(row: Mapping[str, str]) -> dict[str, Any]:
    """promptfoo's CSV tests: columns are vars, ``__expected`` holds an assertion."""
    test: dict[str, Any] = {"vars": {}, "assert": []}
    for key, value in row.items():
        if key.startswith("__expected"):
            if value:
                kind, sep, rest = value.partition(":")
                if sep and kind.strip():
                    test["assert"].append({"type": kind.strip(), "value": rest.strip()})
                else:
                    test["assert"].append({"type": "equals", "value": value})
        elif key == "__description":
            test["description"] = value
        elif not key.startswith("__"):
            test["vars"][key] = value
    return test


def parse_config(document: Any, *, base_dir: Path) -> PromptfooPlan:
    """A plan from a promptfoo config document; ``ValueError`` names the field."""
    if not isinstance(document, Mapping):
        raise ValueError("config: expected a mapping (promptfooconfig.yaml)")
    unsupported = sorted(set(document) - SUPPORTED_KEYS - IGNORED_KEYS)
    prompts = [
        _prompt(p, i, base_dir) for i, p in enumerate(_as_list(document.get("prompts"), "prompts"))
    ]
    providers = [
        _provider(p, i) for i, p in enumerate(_as_list(document.get("providers"), "providers"))
    ]
    default = document.get("defaultTest")
    default = {} if default is None else default
    if not isinstance(default, Mapping):
        raise ValueError("defaultTest: expected a mapping")
    default_asserts = _check_assertions(default.get("assert"), "defaultTest.assert")
    default_vars = dict(default.get("vars") or {})
    options = default.get("options") or {}
    judge = options.get("provider") if isinstance(options, Mapping) else None
    tests = []
    for index, entry in enumerate(_tests(document.get("tests"), base_dir)):
        if not isinstance(entry, Mapping):
            raise ValueError(f"tests[{index}]: expected a mapping")
        variables = {**default_vars, **dict(entry.get("vars") or {})}
        if any(isinstance(value, list) for value in variables.values()):
            unsupported.append(f"tests[{index}].vars (array values expand to combinations)")
        asserts = [
            *_check_assertions(entry.get("assert"), f"tests[{index}].assert"),
            *default_asserts,
        ]
        tests.append(
            PromptfooTest(
                description=entry.get("description"),
                vars=variables,
                assertions=_with_threshold(asserts, entry.get("threshold"), index),
                metadata=dict(entry.get("metadata") or {}),
            )
        )
        known = {"description", "vars", "assert", "metadata", "threshold"}
        for key in sorted(set(entry) - known):
            unsupported.append(f"tests[{index}].{key}")
    unsupported += _template_problems(prompts)
    evaluate = document.get("evaluateOptions") or {}
    return PromptfooPlan(
        description=document.get("description"),
        prompts=prompts,
        providers=providers,
        tests=tests,
        judge=judge,
        concurrency=evaluate.get("maxConcurrency") if isinstance(evaluate, Mapping) else None,
        repeat=evaluate.get("repeat") if isinstance(evaluate, Mapping) else None,
        unsupported=unsupported,
        base_dir=base_dir,
    )


def _with_threshold(
    asserts: list[dict[str, Any]], threshold: Any, index: int
) -> list[dict[str, Any]]:
    """A test-level ``threshold`` (pass when the weighted score reaches it, as promptfoo
    does) as one assert-set around the test's assertions."""
    if threshold is None or not asserts:
        return asserts
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"tests[{index}].threshold: expected a number")
    return [{"type": "assert-set", "threshold": float(threshold), "assert": asserts}]


def _template_problems(prompts: list[PromptUnderTest]) -> list[str]:
    """Nunjucks beyond ``{{ variable }}`` (tags, filters) renders differently here: name it."""
    found = []
    for index, prompt in enumerate(prompts):
        if "{%" in prompt.template or re.search(r"\{\{[^}]*\|", prompt.template):
            found.append(f"prompts[{index}] (nunjucks tags or filters; only {{{{ var }}}} renders)")
    return found


def load_config(path: str | Path) -> PromptfooPlan:
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"config: cannot read {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config: {file} is not valid YAML: {exc}") from None
    return parse_config(document, base_dir=file.resolve().parent)


def dataset_items(plan: PromptfooPlan) -> list[NewItem]:
    return [
        NewItem(
            input=test.description or json.dumps(test.vars, sort_keys=True, ensure_ascii=False),
            vars=test.vars,
            assertions=test.assertions,
            reference=test.metadata.get("reference"),
            status="accepted",
            accepted_by="promptfoo config",
            metadata={"description": test.description} if test.description else {},
        )
        for test in plan.tests
    ]


def store_tests(store: Any, plan: PromptfooPlan, *, created_by: str | None) -> tuple[str, int]:
    """The config's tests as a dataset version (reused when the tests did not change)."""
    items = dataset_items(plan)
    digest = stable_id(
        json.dumps([(i.vars, i.assertions) for i in items], sort_keys=True, default=str)
    )
    name = plan.dataset_name
    for entry in datasets.list_datasets(store):
        if entry["name"] == name and (entry.get("query") or {}).get("tests_hash") == digest:
            return name, int(entry["version"])
    created = datasets.create_version(
        store,
        name,
        items,
        query={"source": "promptfoo", "tests_hash": digest},
        description=plan.description,
        holdout_fraction=0.0,
        created_by=created_by,
        source="promptfoo",
    )
    return name, int(created["version"])


def unsupported_note(names: Sequence[str]) -> str | None:
    if not names:
        return None
    return "not run (unsupported by promptloop): " + ", ".join(names)
