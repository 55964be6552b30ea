"""Hostile requests to the collector: each gets a clear 4xx and stores nothing.

And text that looks like SQL or markup is stored exactly as sent (it is data, never code).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptloop.core.records import MAX_METADATA_DEPTH
from tests.hostile.conftest import MAX_BODY_BYTES, Collector
from tests.hostile.fuzz import FUZZ, NASTY, TEXT

INGEST = ("/v1/interactions", "/v1/feedback")
PAYLOADS = [
    "'; DROP TABLE llm_interaction_logs; --",
    "Robert'); DELETE FROM feedback_events WHERE ('1'='1",
    "1 UNION SELECT key_hash FROM api_keys --",
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=1">',
    "javascript:window.__xss=1",
    '=HYPERLINK("http://evil.example")',
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "\u202eevil\u0000nul",
]


def _interaction(**fields: Any) -> dict[str, Any]:
    return {"interaction_id": str(uuid.uuid4()), "timestamp": "2026-11-01T10:00:00Z", **fields}


def _refused(collector: Collector, response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and body["message"]
    if code is not None:
        assert body["error"] == code


@pytest.mark.parametrize("path", INGEST)
def test_an_oversized_body_is_a_413_and_stores_nothing(collector: Collector, path: str) -> None:
    before = collector.counts()
    body = b'[{"interaction_id": "' + b"x" * MAX_BODY_BYTES + b'"}]'
    response = collector.client.post(
        path, content=body, headers={"content-type": "application/json"}
    )
    _refused(collector, response, 413, "body_too_large")

    def chunks() -> Any:  # no Content-Length: the limit holds for a streamed body too
        yield b'[{"user_input": "'
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"y" * 1024
        yield b'"}]'

    streamed = collector.client.post(path, content=chunks())
    _refused(collector, streamed, 413, "body_too_large")
    assert collector.counts() == before


@pytest.mark.parametrize("path", INGEST)
@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_deeply_nested_json_is_a_4xx_not_a_crash(
    collector: Collector, path: str, depth: int
) -> None:
    before = collector.counts()
    arrays = collector.client.post(
        path, content=b"[" * depth + b"]" * depth, headers={"content-type": "application/json"}
    )
    assert 400 <= arrays.status_code < 500, arrays.text
    nested = (
        b'{"interaction_id": "a", "metadata": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    )
    objects = collector.client.post(
        path, content=nested, headers={"content-type": "application/json"}
    )
    assert 400 <= objects.status_code < 500, objects.text
    assert collector.counts() == before


def _nested(levels: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {"leaf": "x"}
    for _ in range(levels - 1):
        metadata = {"a": metadata}
    return metadata


def test_metadata_deeper_than_the_limit_is_refused_and_the_limit_reads_back(
    collector: Collector,
) -> None:
    """500 levels parse fine but could never be served back: refused, naming the field."""
    before = collector.counts()
    for path, extra in (("/v1/interactions", {}), ("/v1/feedback", {"feedback_type": "copy"})):
        record = {**_interaction(), **extra, "metadata": _nested(500)}
        if extra:
            record["interaction_id"] = str(uuid.uuid4())
        response = collector.client.post(path, json=[record])
        _refused(collector, response, 422, "invalid_items")
        assert response.json()["errors"][0]["field"] == "metadata"
    assert collector.counts() == before
    record = _interaction(metadata=_nested(MAX_METADATA_DEPTH))
    assert collector.client.post("/v1/interactions", json=record).status_code == 200
    collector.counts()
    shown = collector.client.get(f"/v1/interactions/{record['interaction_id']}")
    assert shown.status_code == 200, shown.text


@pytest.mark.parametrize("path", INGEST)
def test_invalid_utf8_is_a_400_and_stores_nothing(collector: Collector, path: str) -> None:
    before = collector.counts()
    for body in (
        b'[{"interaction_id": "\xff\xfe", "user_input": "x"}]',
        b'{"interaction_id": "a", "user_input": "\xc3\x28"}',
        b"\xef\xbb\xbf\x80",
    ):
        response = collector.client.post(
            path, content=body, headers={"content-type": "application/json"}
        )
        _refused(collector, response, 400, "invalid_json")
    assert collector.counts() == before


def test_lone_surrogate_escapes_are_refused_or_stored_safely(collector: Collector) -> None:
    record = _interaction()
    body = '[{"interaction_id": "' + record["interaction_id"] + '", "user_input": "\\ud800 x"}]'
    response = collector.client.post(
        "/v1/interactions", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code in (200, 400, 422), response.text


def test_huge_strings_are_refused_by_field_and_the_rest_is_stored(collector: Collector) -> None:
    before = collector.counts()
    good = _interaction(user_input="fine")
    huge = _interaction(user_input="x" * 1_000_001)
    long_feature = _interaction(feature="f" * 201)
    settings = collector.client.app.state.settings  # type: ignore[attr-defined]
    assert settings.max_body_bytes == MAX_BODY_BYTES
    response = collector.client.post("/v1/interactions", json=[good, long_feature])
    assert response.status_code == 207
    assert [e["field"] for e in response.json()["errors"]] == ["feature"]
    big = collector.client.post("/v1/interactions", json=[huge])
    assert big.status_code == 413  # bigger than the body limit before any parsing
    after = collector.counts()
    assert after["llm_interaction_logs"] == before["llm_interaction_logs"] + 1


def test_sql_and_markup_are_stored_verbatim_in_every_free_text_field(collector: Collector) -> None:
    before = collector.counts()
    ids = []
    for payload in PAYLOADS:
        record = _interaction(
            session_id=payload,
            user_id=payload,
            feature=payload[:200],
            prompt_name=payload[:200],
            prompt_version=payload[:200],
            model=payload[:200],
            system_prompt=payload,
            user_input=payload,
            raw_output=payload,
            error=payload,
            metadata={payload: payload},
        )
        ids.append(record["interaction_id"])
        assert collector.client.post("/v1/interactions", json=record).status_code == 200
        event = {
            "interaction_id": record["interaction_id"],
            "feedback_type": "edit",
            "comment": payload,
            "user_edit": payload,
            "metadata": {"note": payload},
        }
        assert collector.client.post("/v1/feedback", json=event).status_code == 200
    after = collector.counts()
    assert after["llm_interaction_logs"] == before["llm_interaction_logs"] + len(PAYLOADS)
    assert after["feedback_events"] == before["feedback_events"] + len(PAYLOADS)
    for interaction_id, payload in zip(ids, PAYLOADS, strict=True):
        shown = collector.client.get(f"/v1/interactions/{interaction_id}").json()
        found = shown.get("interaction", shown)
        for field in ("user_input", "raw_output", "system_prompt", "error", "session_id"):
            assert found[field] == payload, field
        feedback = collector.client.get("/v1/feedback", params={"interaction_id": interaction_id})
        [event] = feedback.json()["items"]
        assert event["comment"] == event["user_edit"] == payload


def test_a_category_is_a_label_refused_unless_it_is_a_slug(collector: Collector) -> None:
    before = collector.counts()
    accepted = 0
    for payload in PAYLOADS:
        event = {
            "interaction_id": str(uuid.uuid4()),
            "feedback_type": "thumbs_down",
            "category": payload,
        }
        response = collector.client.post("/v1/feedback", json=event)
        if response.status_code == 200:  # e.g. "1 UNION SELECT ...": a harmless slug, kept as is
            accepted += 1
            collector.counts()
            shown = collector.client.get(
                "/v1/feedback", params={"interaction_id": event["interaction_id"]}
            )
            assert shown.json()["items"][0]["category"] == payload
            continue
        _refused(collector, response, 422, "invalid_items")
        assert response.json()["errors"][0]["field"] == "category"
    assert accepted < len(PAYLOADS)
    after = collector.counts()
    assert after["feedback_events"] == before["feedback_events"] + accepted


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "feature",
                "prompt_version",
                "prompt_name",
                "model",
                "session_id",
                "user_id",
                "feedback_type",
                "feedback_source",
                "since",
                "until",
                "limit",
                "cursor",
                "days",
                "q",
            ]
        ),
        st.one_of(TEXT, NASTY, st.integers(-(2**65), 2**65).map(str)),
        max_size=5,
    )
)
def test_query_filters_answer_200_or_422_for_any_value(
    collector: Collector, params: dict[str, str]
) -> None:
    params = {key: value.replace("\x00", "") for key, value in params.items()}
    for path in (
        "/v1/interactions",
        "/v1/queries/negative-inputs",
        "/v1/queries/version-summary",
        "/v1/metrics",
    ):
        response = collector.client.get(path, params=params)
        assert response.status_code in (200, 422), (path, params, response.text)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "'; DROP TABLE prompt_versions; --", "template": "x"},
        {"name": "../../etc/passwd", "template": "x"},
        {"name": "ok", "template": "x", "version": "1.0.0; DROP"},
        {"name": "ok", "template": "x", "settings": {"model": {"$where": "1"}}, "bump": "huge"},
        {"name": "<script>", "template": "x"},
    ],
)
def test_prompt_registration_refuses_hostile_names_and_versions(
    collector: Collector, body: dict[str, Any]
) -> None:
    before = collector.counts()
    response = collector.client.post("/v1/prompts", json=body)
    _refused(collector, response, 422)
    assert collector.counts() == before


@pytest.mark.parametrize("path", INGEST)
@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"42", b'"text"', b"[1, 2]", b"{", b"[{}]", b'{"interaction_id": null}'],
)
def test_bodies_that_are_not_records_are_refused(
    collector: Collector, path: str, body: bytes
) -> None:
    before = collector.counts()
    response = collector.client.post(
        path, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]
    assert collector.counts() == before
