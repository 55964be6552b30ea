"""Every parser, fed by hypothesis: it accepts, or refuses with a ValueError naming the problem.

Never another exception (a TypeError, a KeyError, a RecursionError is a bug), and what it
accepts survives a round trip.
"""

from __future__ import annotations

import contextlib
import json
import math
import string
import time
from datetime import datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from promptloop.core import records as records_module
from promptloop.core import tokens
from promptloop.core.prompts import SemVer, canonical_form, content_hash, render, variables_of
from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.evals import formats
from promptloop.otlp.decode import decode_json
from promptloop.server.ingest import validate_items
from promptloop.store._sql import metadata_json
from tests.hostile.fuzz import FUZZ, TEXT, json_values, records


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


INTERACTION_KEYS = sorted(
    {*Interaction.model_fields, *(_camel(n) for n in Interaction.model_fields), "id"}
)
FEEDBACK_KEYS = sorted(
    {*FeedbackEvent.model_fields, *(_camel(n) for n in FeedbackEvent.model_fields), "type"}
)


# -- records (camelCase and snake_case JSON) -------------------------------------------------
@FUZZ
@given(records(INTERACTION_KEYS))
def test_interaction_records_validate_or_refuse(data: dict[str, Any]) -> None:
    try:
        record = Interaction.model_validate(data)
    except ValidationError:
        return
    again = Interaction.model_validate(record.model_dump(mode="json"))
    assert again == record


@FUZZ
@given(records(FEEDBACK_KEYS))
def test_feedback_records_validate_or_refuse(data: dict[str, Any]) -> None:
    try:
        event = FeedbackEvent.model_validate(data)
    except ValidationError:
        return
    assert FeedbackEvent.model_validate(event.model_dump(mode="json")) == event


@FUZZ
@given(
    st.uuids().map(str),
    st.text(max_size=40),
    st.text(max_size=40),
    st.datetimes(min_value=datetime(1980, 1, 1), timezones=st.timezones()),
)
def test_camel_and_snake_case_give_the_same_record(
    interaction_id: str, user_input: str, model: str, when: Any
) -> None:
    snake = {"interaction_id": interaction_id, "user_input": user_input, "model": model}
    camel = {"interactionId": interaction_id, "userInput": user_input, "model": model}
    stamp = when.isoformat()
    assert Interaction.model_validate({**snake, "timestamp": stamp}) == Interaction.model_validate(
        {**camel, "timestamp": stamp}
    )


@FUZZ
@given(st.lists(st.one_of(records(INTERACTION_KEYS), json_values(4)), max_size=6))
def test_a_batch_keeps_the_valid_items_and_names_each_bad_one(items: list[Any]) -> None:
    validated = validate_items("interactions", items)
    bad = {error.index for error in validated.errors}
    assert len(validated.records) + len(bad) == len(items)
    assert all(0 <= index < len(items) for index in bad)
    assert all(error.field for error in validated.errors)


# -- feedback tokens ---------------------------------------------------------------------------
KEY = tokens.derive_key("collector-secret")
KEYS = {tokens.key_id(KEY): KEY}


@FUZZ
@given(st.text(max_size=300))
def test_any_string_is_a_refused_token_or_a_valid_one(text: str) -> None:
    try:
        tokens.verify(text, KEYS)
    except tokens.TokenError as exc:
        assert exc.code in ("malformed_token", "invalid_token", "expired_token")


@FUZZ
@given(st.uuids().map(str), st.integers(0, 10**6), st.data())
def test_a_signed_token_verifies_and_any_change_breaks_it(
    interaction_id: str, ttl: int, data: st.DataObject
) -> None:
    now = 1_800_000_000.0
    token = tokens.sign(KEY, interaction_id, ttl_seconds=ttl + 1, now=now)
    claims = tokens.verify(token, KEYS, now=now)
    assert claims.interaction_id == interaction_id
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_."))
    assume(token[position] != replacement)
    tampered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(tokens.TokenError):
        tokens.verify(tampered, KEYS, now=now)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(token, KEYS, now=now + ttl + 1)


def test_a_token_from_another_key_is_refused() -> None:
    other = tokens.derive_key("someone-else")
    forged = tokens.sign(other, "1b4e28ba-2fa1-41d2-883f-0016d3cca427")
    with pytest.raises(tokens.TokenError) as refused:
        tokens.verify(forged, KEYS)
    assert refused.value.code == "invalid_token"
    assert tokens.verify(forged, {**KEYS, tokens.key_id(other): other}).expires_at > time.time()


# -- prompts: canonical form, content hash, SemVer, rendering ---------------------------------
@FUZZ
@given(st.text(max_size=200), st.dictionaries(st.text(max_size=8), json_values(4), max_size=4))
def test_canonical_form_is_stable_json_and_ignores_line_endings(
    template: str, settings: dict[str, Any]
) -> None:
    form = canonical_form(template, settings)
    assert json.loads(form)["template"] == template.replace("\r\n", "\n").replace("\r", "\n")
    unix = template.replace("\r", "")
    assert content_hash(unix.replace("\n", "\r\n"), settings) == content_hash(unix, settings)
    assert content_hash(template, settings).startswith("sha256:")


@FUZZ
@given(st.text(max_size=40))
def test_semver_parses_or_names_the_problem(text: str) -> None:
    try:
        version = SemVer.parse(text)
    except ValueError as exc:
        assert "version" in str(exc)
        return
    assert SemVer.parse(str(version)) == version
    assert version.bump("patch") > version and version.bump("major") > version.bump("minor")


@FUZZ
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_semver_round_trips(major: int, minor: int, patch: int) -> None:
    assert SemVer.parse(f"v{major}.{minor}.{patch}") == SemVer(major, minor, patch)


@FUZZ
@given(st.text(max_size=120), st.dictionaries(st.text(max_size=8), TEXT, max_size=4))
def test_render_fills_every_variable_or_names_the_missing_ones(
    template: str, values: dict[str, str]
) -> None:
    try:
        rendered = render(template, values)
    except ValueError as exc:
        assert any(name in str(exc) for name in variables_of(template))
        return
    for name in variables_of(template):
        assert "{{" + name + "}}" not in rendered or "{{" + name + "}}" in values[name]


# -- dataset imports (JSONL and CSV) ------------------------------------------------------------
@FUZZ
@given(st.lists(st.one_of(json_values(6), records(list(formats.EXPORT_FIELDS))), max_size=5))
def test_jsonl_imports_report_bad_lines_and_never_crash(lines: list[Any]) -> None:
    text = "\n".join(json.dumps(line, default=str) for line in lines)
    report = formats.parse(text, "jsonl")
    assert len(report.items) + len(report.errors) <= max(len(lines), 1)


@FUZZ
@given(st.text(max_size=400))
def test_csv_and_jsonl_imports_of_any_text_never_crash(text: str) -> None:
    for fmt in ("csv", "jsonl"):
        with contextlib.suppress(ValueError):
            formats.parse(text, fmt)


@FUZZ
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["input", "expected", "reference"]), TEXT, min_size=1),
        min_size=1,
        max_size=4,
    )
)
def test_csv_export_then_import_gives_the_items_back(items: list[dict[str, str]]) -> None:
    rows = [{**item, "input": item.get("input") or "x"} for item in items]
    report = formats.parse(formats.render(rows, "csv"), "csv")
    assert [item.input for item in report.items] == [row["input"] for row in rows]


# -- OTLP JSON ------------------------------------------------------------------------------------
@FUZZ
@given(json_values(20))
def test_otlp_json_decodes_or_refuses(payload: Any) -> None:
    body = json.dumps(payload, default=str).encode()
    with contextlib.suppress(ValueError):
        decode_json(body)


@FUZZ
@given(st.binary(max_size=200))
def test_otlp_json_of_any_bytes_decodes_or_refuses(body: bytes) -> None:
    with contextlib.suppress(ValueError):
        decode_json(body)


def _depth(value: Any) -> int:
    """Objects/arrays nested in ``value`` (0 for a scalar): the recursive definition."""
    if isinstance(value, dict):
        return 1 + max((_depth(child) for child in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(child) for child in value), default=0)
    return 0


@given(json_values(), st.integers(min_value=1, max_value=6))
def test_the_nesting_check_agrees_with_the_recursive_definition(value: Any, limit: int) -> None:
    assert records_module._nested_within(value, limit) is (_depth(value) <= limit)


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as None, which is how JSON can hold them."""
    if isinstance(value, dict):
        return {key: _finite(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_finite(child) for child in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@given(st.dictionaries(st.text(max_size=8), json_values(), max_size=6))
def test_stored_metadata_is_strict_json_of_the_same_values(metadata: dict[str, Any]) -> None:
    # strict JSON (no NaN/Infinity): DuckDB's JSON and PostgreSQL's jsonb columns refuse those
    assert json.loads(metadata_json(metadata), parse_constant=_refuse) == _finite(metadata)


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")
