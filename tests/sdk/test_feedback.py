"""``promptloop.feedback`` reaches the collector as valid FeedbackEvent records."""

from __future__ import annotations

import uuid

import promptloop
from promptloop.core.records import FeedbackEvent
from tests.support.recording_collector import RecordingCollector


def test_feedback_types(client: promptloop.Client, collector: RecordingCollector) -> None:
    @promptloop.track(feature="summarize")
    def summarize(text: str) -> str:
        return "summary"

    summarize("doc")
    interaction_id = promptloop.last_interaction_id()
    assert interaction_id is not None
    summarize("doc again")
    regenerated = promptloop.last_interaction_id()

    ids = [
        promptloop.feedback(interaction_id, "thumbs_down", category="wrong", comment="no"),
        promptloop.feedback(interaction_id, promptloop.FeedbackType.RATING, value=2),
        promptloop.feedback(interaction_id, "edit", user_edit="better summary"),
        promptloop.feedback(interaction_id, "regenerate", related_interaction_id=regenerated),
        promptloop.feedback(
            interaction_id, "copy", source="inferred", metadata={"via": "clipboard"}
        ),
        promptloop.feedback(interaction_id, "thumbs_up", feedback_id="my-own-id"),
    ]
    assert all(ids)
    assert uuid.UUID(str(ids[0])).version == 4
    assert ids[-1] == "my-own-id"
    assert client.flush(timeout=10)
    events = collector.feedback()
    assert [e["feedback_id"] for e in events] == ids
    parsed = [FeedbackEvent.model_validate(e) for e in events]
    assert parsed[0].category == "wrong"
    assert parsed[1].value == 2.0
    assert parsed[2].user_edit == "better summary"
    assert parsed[3].related_interaction_id == regenerated
    assert parsed[4].source == promptloop.FeedbackSource.INFERRED
    assert {e.interaction_id for e in parsed} == {interaction_id}


def test_seed_shaped_feedback_via_logger(
    client: promptloop.Client, collector: RecordingCollector
) -> None:
    feedback_id = promptloop.Logger().feedback(
        {
            "interactionId": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
            "feedbackType": "thumbs_down",
            "category": "off_topic",
            "timestamp": "2025-05-01T12:00:00Z",
        }
    )
    assert client.flush(timeout=10)
    [event] = collector.feedback()
    assert event["feedback_id"] == feedback_id
    assert FeedbackEvent.model_validate(event).category == "off_topic"


def test_feedback_before_init_is_harmless(collector: RecordingCollector) -> None:
    assert promptloop.feedback("1b4e28ba-2fa1-41d2-883f-0016d3cca427", "copy") is not None
    assert collector.requests == []
