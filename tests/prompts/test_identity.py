"""Content identity, rendering and semantic versions (pure functions)."""

from __future__ import annotations

import hashlib

import pytest

from promptloop.core.prompts import (
    PromptRenderError,
    SemVer,
    canonical_form,
    content_hash,
    render,
    variables_of,
)


def test_the_hash_is_sha256_of_the_documented_canonical_form() -> None:
    form = canonical_form("Hi {{name}}\r\n", {"temperature": 0.2, "model": "m"})
    assert form == '{"settings":{"model":"m","temperature":0.2},"template":"Hi {{name}}\\n"}'
    expected = "sha256:" + hashlib.sha256(form.encode()).hexdigest()
    assert content_hash("Hi {{name}}\r\n", {"model": "m", "temperature": 0.2}) == expected


def test_any_change_to_template_or_settings_changes_the_hash() -> None:
    base = content_hash("Answer briefly.", {"model": "m", "temperature": 0.2})
    assert content_hash("Answer briefly.", {"temperature": 0.2, "model": "m"}) == base
    assert content_hash("Answer briefly.\n", {"model": "m", "temperature": 0.2}) != base
    assert content_hash("Answer briefly.", {"model": "m", "temperature": 0.3}) != base
    assert content_hash("Answer briefly.", {"model": "m"}) != base


def test_render_fills_variables_and_names_missing_ones() -> None:
    template = "Summarise {{ text }} for {{audience}}; keep {{text}} short."
    assert variables_of(template) == ["text", "audience"]
    assert render(template, {"text": "X", "audience": "PMs"}) == (
        "Summarise X for PMs; keep X short."
    )
    with pytest.raises(PromptRenderError, match="audience"):
        render(template, {"text": "X"})


def test_semver_parses_orders_and_bumps() -> None:
    assert SemVer.parse("v1.4.0") == SemVer(1, 4, 0)
    assert SemVer.parse("1.10.0") > SemVer.parse("1.9.3")
    assert str(SemVer(1, 4, 2).bump("minor")) == "1.5.0"
    assert str(SemVer(1, 4, 2).bump("major")) == "2.0.0"
    assert str(SemVer(1, 4, 2).bump("patch")) == "1.4.3"
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        SemVer.parse("1.4")
