"""Quality specs: "write down what good means", per feature, as a YAML file.

``specs/<feature>.yaml`` lists the properties every response of that feature must have::

    feature: support_chat
    description: What a good support answer is.
    properties:
      - must not contain: Zapier                 # not-contains
      - must be valid JSON with schema: {type: object, required: [answer]}
      - llm-rubric: Only mentions features that exist in Acme Notes.
      - type: word-count                         # any promptfoo assertion, as in promptfoo
        value: {max: 120}

Each property becomes a promptfoo-style assertion (named by its ``metric``, so reports give
a pass rate per property) that is applied to every item of the feature's datasets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from promptloop.evals.types import AssertionSpec

DEFAULT_SPECS_DIR = "specs"

# Plain-language property names and the assertion type they stand for.
ALIASES: dict[str, str] = {
    "must contain": "icontains",
    "must not contain": "not-icontains",
    "must contain all": "icontains-all",
    "must contain any": "icontains-any",
    "must not contain any": "not-icontains-any",
    "must start with": "starts-with",
    "must match": "regex",
    "must not match": "not-regex",
    "must be valid json": "is-json",
    "must be valid json with schema": "is-json",
    "must contain json": "contains-json",
    "must": "llm-rubric",
    "rubric": "llm-rubric",
    "max words": "word-count",
    "max latency ms": "latency",
    "max cost usd": "cost",
}


@dataclass(frozen=True)
class QualitySpec:
    feature: str
    description: str | None
    assertions: list[dict[str, Any]] = field(default_factory=list)
    path: str | None = None

    def specs(self) -> list[AssertionSpec]:
        return [AssertionSpec.from_dict(item) for item in self.assertions]


def _expand(index: int, prop: Any) -> dict[str, Any]:
    where = f"properties[{index}]"
    if not isinstance(prop, Mapping):
        raise ValueError(f"{where}: expected a mapping such as {{'must not contain': 'X'}}")
    if "type" in prop:
        found = dict(prop)
    else:
        keys = [key for key in prop if key not in ("description", "weight", "metric")]
        if len(keys) != 1:
            raise ValueError(f"{where}: give one property (e.g. 'must not contain: X'), got {keys}")
        name = str(keys[0])
        kind = ALIASES.get(name.strip().lower(), name.strip())
        value = prop[keys[0]]
        found = {"type": kind, "value": value}
        if kind == "word-count" and isinstance(value, int | float):
            found["value"] = {"max": value}
        if kind in ("latency", "cost"):
            found = {"type": kind, "threshold": value}
        for extra in ("weight",):
            if extra in prop:
                found[extra] = prop[extra]
    found.setdefault("metric", prop.get("metric") or prop.get("description") or _metric(found))
    found.pop("description", None)
    try:
        AssertionSpec.from_dict(found)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None
    return found


def _metric(found: Mapping[str, Any]) -> str:
    value = found.get("value")
    shown = value if isinstance(value, str) else ""
    text = f"{found['type']} {shown}".strip()
    return text if len(text) <= 60 else text[:59] + "…"


def parse_spec(
    document: Any, *, path: str | None = None, feature: str | None = None
) -> QualitySpec:
    """A spec from its YAML document; ``ValueError`` names the bad field."""
    if not isinstance(document, Mapping):
        raise ValueError("spec: expected a mapping with 'feature' and 'properties'")
    name = document.get("feature") or feature
    if not isinstance(name, str) or not name.strip():
        raise ValueError("feature: required, the product feature the spec applies to")
    props = document.get("properties")
    if not isinstance(props, list) or not props:
        raise ValueError("properties: required, a non-empty list")
    description = document.get("description")
    return QualitySpec(
        feature=name.strip(),
        description=str(description) if description else None,
        assertions=[_expand(index, prop) for index, prop in enumerate(props)],
        path=path,
    )


def load_spec(path: str | Path) -> QualitySpec:
    file = Path(path)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"spec: cannot read {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"spec: {file} is not valid YAML: {exc}") from None
    try:
        return parse_spec(document, path=str(file), feature=file.stem)
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from None


def load_specs(directory: str | Path = DEFAULT_SPECS_DIR) -> dict[str, QualitySpec]:
    """Every ``*.yaml`` / ``*.yml`` spec in ``directory``, by feature (none if it is missing)."""
    folder = Path(directory)
    if not folder.is_dir():
        return {}
    found: dict[str, QualitySpec] = {}
    for file in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        spec = load_spec(file)
        if spec.feature in found:
            raise ValueError(f"{file}: a second spec for feature {spec.feature!r}")
        found[spec.feature] = spec
    return found
