"""Prompt versions: content identity, semantic versions, rendering. Pure, no I/O.

A prompt version's identity is the SHA-256 of a canonical form of what shapes the model's
output: the template text and the output-shaping settings (model, temperature, ...).

Canonical form (documented in docs/prompts.md and fixed by tests)::

    {"settings": {<settings, keys sorted>}, "template": "<template>"}

serialised as compact JSON (``separators=(",", ":")``, keys sorted, non-ASCII kept as UTF-8)
after normalising the template's line endings to ``\\n``. Nothing else changes the hash:
the name, the rationale or the author of a version do not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

HASH_PREFIX = "sha256:"
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-./]{0,127}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,63}$")

Bump = Literal["major", "minor", "patch"]


class PromptRenderError(ValueError):
    """A template was rendered without a value for one of its variables."""


def canonical_form(template: str, settings: Mapping[str, Any] | None = None) -> str:
    text = template.replace("\r\n", "\n").replace("\r", "\n")
    return json.dumps(
        {"settings": dict(settings or {}), "template": text},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def content_hash(template: str, settings: Mapping[str, Any] | None = None) -> str:
    """``sha256:<hex>`` of the canonical form."""
    digest = hashlib.sha256(canonical_form(template, settings).encode("utf-8")).hexdigest()
    return HASH_PREFIX + digest


def variables_of(template: str) -> list[str]:
    """The ``{{variable}}`` names a template uses, in order of first use."""
    return list(dict.fromkeys(_VARIABLE.findall(template)))


def render(template: str, variables: Mapping[str, Any]) -> str:
    """Replace each ``{{name}}`` with its value; a missing value is an error naming it."""
    missing = [name for name in variables_of(template) if name not in variables]
    if missing:
        raise PromptRenderError(f"no value for template variable(s): {', '.join(missing)}")
    return _VARIABLE.sub(lambda match: str(variables[match.group(1)]), template)


@dataclass(frozen=True, order=True)
class SemVer:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SemVer:
        match = _SEMVER.match(text.strip().removeprefix("v"))
        if not match:
            raise ValueError(f"version must be MAJOR.MINOR.PATCH (like 1.4.0), got {text!r}")
        return cls(*(int(part) for part in match.groups()))

    def bump(self, part: Bump) -> SemVer:
        if part == "major":
            return SemVer(self.major + 1, 0, 0)
        if part == "minor":
            return SemVer(self.major, self.minor + 1, 0)
        return SemVer(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            "prompt name must be 1-128 characters of letters, digits, '_', '-', '.', '/'"
        )
    return name


def check_label(label: str) -> str:
    if not _LABEL.match(label):
        raise ValueError("label must be 1-64 characters of letters, digits, '_', '-', '.'")
    return label


class Evidence(BaseModel):
    """Why a change was made: a link to a feedback query, a failure cluster, an eval run..."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["feedback_query", "failure_cluster", "eval_run", "interaction", "link", "note"]
    ref: str = Field(min_length=1, max_length=2000)
    note: str | None = Field(default=None, max_length=2000)


class PromptVersion(BaseModel):
    """One registered version of a named prompt, with the reason it exists."""

    model_config = ConfigDict(frozen=True)

    prompt_name: str
    version: str
    prompt_hash: str
    template: str
    settings: dict[str, Any] = Field(default_factory=dict)
    variables: list[str] = Field(default_factory=list)
    rationale: str
    failure_mode: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    author: str | None = None
    source: str = "api"
    commit_sha: str | None = None
    created_at: datetime

    @field_validator("prompt_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    def render(self, **variables: Any) -> str:
        return render(self.template, variables)


class Deployment(BaseModel):
    """A label moved: a promotion or a rollback."""

    model_config = ConfigDict(frozen=True)

    deployment_id: str
    prompt_name: str
    label: str
    from_version: str | None
    to_version: str
    action: Literal["promote", "rollback"]
    actor: str | None
    reason: str | None
    timestamp: datetime
