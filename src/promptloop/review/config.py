"""The review queue's settings: which rules enqueue what, at which priority, and how much.

Defaults suit a small team; a YAML file changes any of them (``PROMPTLOOP_REVIEW_CONFIG`` or
``--config``). Every key is documented in docs/review.md::

    rules:
      negative_feedback: {enabled: true, priority: 0.8}
      judge_disagreement: {priority: 0.9}
      ambiguous_signals: {priority: 0.6, pairs: [[regenerate, copy], [thumbs_down, copy]]}
      failure_patterns: {priority: 0.5, patterns: 5, per_pattern: 10}
      random_sample: {priority: 0.55, rate: 0.01, seed: 7}
    max_per_rule: 200
    double_label_share: 0.1
    claim_ttl_seconds: 600
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptloop.core.enums import FeedbackType
from promptloop.exceptions import ConfigError

CONFIG_ENV = "PROMPTLOOP_REVIEW_CONFIG"
RULE_NAMES: tuple[str, ...] = (
    "judge_disagreement",
    "negative_feedback",
    "ambiguous_signals",
    "failure_patterns",
    "random_sample",
    "manual",
)
_FEEDBACK_TYPES = frozenset(kind.value for kind in FeedbackType)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSettings(_Strict):
    enabled: bool = True
    priority: float = Field(0.5, ge=0, le=1)


class AmbiguousSettings(RuleSettings):
    priority: float = Field(0.6, ge=0, le=1)
    # Each pair: a negative-looking then a positive-looking signal on the same interaction.
    pairs: tuple[tuple[str, str], ...] = (
        ("regenerate", "copy"),
        ("thumbs_down", "copy"),
        ("thumbs_up", "thumbs_down"),
        ("edit", "thumbs_up"),
    )

    @field_validator("pairs")
    @classmethod
    def _known_types(cls, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for pair in pairs:
            unknown = [kind for kind in pair if kind not in _FEEDBACK_TYPES]
            if unknown:
                raise ValueError(f"unknown feedback type(s) {unknown} in pairs")
        return pairs


class PatternSettings(RuleSettings):
    priority: float = Field(0.5, ge=0, le=1)
    patterns: int = Field(5, ge=1, le=100)  # the top N failure patterns by priority
    per_pattern: int = Field(10, ge=1, le=1000)  # members of each, newest first


class SampleSettings(RuleSettings):
    priority: float = Field(0.55, ge=0, le=1)
    rate: float = Field(0.01, ge=0, le=1)
    seed: int = 7


class RulesSettings(_Strict):
    negative_feedback: RuleSettings = RuleSettings(priority=0.8)
    judge_disagreement: RuleSettings = RuleSettings(priority=0.9)
    ambiguous_signals: AmbiguousSettings = AmbiguousSettings()
    failure_patterns: PatternSettings = PatternSettings()
    random_sample: SampleSettings = SampleSettings()
    manual: RuleSettings = RuleSettings(priority=1.0)


class ReviewSettings(_Strict):
    rules: RulesSettings = RulesSettings()
    max_per_rule: int = Field(200, ge=1, le=100_000)  # new items per rule and enqueue run
    double_label_share: float = Field(0.1, ge=0, le=1)
    claim_ttl_seconds: int = Field(600, ge=5, le=86_400)
    # Each extra rule an interaction matches adds this to the item's priority.
    extra_reason_bonus: float = Field(0.05, ge=0, le=1)

    def priority_of(self, rule: str) -> float:
        found: RuleSettings = getattr(self.rules, rule)
        return found.priority

    def enabled(self, rule: str) -> bool:
        found: RuleSettings = getattr(self.rules, rule)
        return found.enabled


def settings_from_mapping(data: Mapping[str, Any]) -> ReviewSettings:
    """Validate a parsed config; a bad key or value raises ConfigError naming it."""
    try:
        return ReviewSettings.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"review config {where}: {first['msg']}") from None


def load_settings(path: str | Path | None = None) -> ReviewSettings:
    """The file at ``path``, else at ``$PROMPTLOOP_REVIEW_CONFIG``, else the defaults."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        return ReviewSettings()
    file = Path(chosen)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read review config {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"review config {file} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"review config {file}: expected a mapping at the top level")
    return settings_from_mapping(data)
