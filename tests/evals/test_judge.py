"""LLM-as-judge: rubric and reference-guided grading, pairwise with the swap, calibration."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sklearn.metrics import cohen_kappa_score

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.evals.judge import (
    JudgeConfig,
    calibrate,
    calibrate_from_store,
    feedback_label,
    labelled_pairs,
    pairwise,
    reference_guided,
    rubric,
    verdict_event,
)
from promptloop.evals.providers import load_provider
from promptloop.evals.types import GradingResult
from promptloop.store.base import Store
from tests.support.fake_llm import FakeLLM


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def judge(fake: FakeLLM) -> JudgeConfig:
    provider = load_provider(
        {"id": "openai:chat:gpt-4o", "config": {"apiBaseUrl": fake.openai_url, "apiKey": "t"}}
    )
    return JudgeConfig(provider=provider, model="gpt-4o-2024-08-06", temperature=0.0, seed=42)


async def test_rubric_logs_model_temperature_and_seed(fake: FakeLLM, judge: JudgeConfig) -> None:
    fake.reply('{"reason": "Concise.", "pass": true, "score": 0.8}')
    result = await rubric("Done: moved to 3pm.", "Is concise", judge=judge, threshold=0.7)
    assert (result.passed, result.score, result.reason) == (True, 0.8, "Concise.")
    assert result.judge == {
        "provider": "openai:chat:gpt-4o",
        "model": "gpt-4o-2024-08-06",
        "temperature": 0.0,
        "seed": 42,
    }
    body = fake.requests[-1][1]
    assert (body["model"], body["temperature"], body["seed"]) == ("gpt-4o-2024-08-06", 0.0, 42)


async def test_reference_guided_shows_the_reference(fake: FakeLLM, judge: JudgeConfig) -> None:
    fake.reply('{"reason": "Says 4pm, the reference says 3pm.", "pass": false, "score": 0.1}')
    result = await reference_guided(
        "Moved to 4pm.", "Moved to 3pm.", judge=judge, question="When is the meeting?"
    )
    assert not result.passed and result.score == 0.1
    content = fake.requests[-1][1]["messages"][-1]["content"]
    assert "<Reference>\nMoved to 3pm.\n</Reference>" in content
    assert "<Submission>\nMoved to 4pm.\n</Submission>" in content


def _winner(text: str) -> str:
    return json.dumps({"winner": text, "reason": f"picked {text}"})


@pytest.mark.parametrize(
    ("first", "swapped", "winner", "consistent"),
    [
        ("1", "2", "a", True),  # A wins in both orders
        ("2", "1", "b", True),  # B wins in both orders
        ("1", "1", "tie", False),  # always the first shown: position bias, a tie
        ("2", "2", "tie", False),  # always the second shown
        ("tie", "tie", "tie", True),
        ("1", "tie", "tie", False),
    ],
)
async def test_pairwise_counts_a_win_only_if_it_survives_the_swap(
    fake: FakeLLM, judge: JudgeConfig, first: str, swapped: str, winner: str, consistent: bool
) -> None:
    fake.reply(_winner(first))
    fake.reply(_winner(swapped))
    verdict = await pairwise("answer A", "answer B", judge=judge, request="Q")
    assert (verdict.winner, verdict.consistent) == (winner, consistent)
    assert verdict.judge["seed"] == 42 and verdict.grader_tokens == 36
    shown_first = [body["messages"][-1]["content"] for _, body in fake.requests]
    assert "<Response1>\nanswer A\n</Response1>" in shown_first[0]
    assert "<Response1>\nanswer B\n</Response1>" in shown_first[1]


async def test_pairwise_judge_errors_are_ties(fake: FakeLLM, judge: JudgeConfig) -> None:
    fake.reply(_winner("1"))
    fake.fail(400, "context too long")
    verdict = await pairwise("A", "B", judge=judge)
    assert verdict.winner == "tie" and verdict.reason.startswith("Judge error")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": "cold"}, "judge.temperature: expected a number"),
        ({"temperature": 3}, "judge.temperature: expected 0 to 2"),
        ({"seed": 1.5}, "judge.seed"),
        ({"model": ""}, "judge.model"),
    ],
)
def test_judge_config_names_bad_fields(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JudgeConfig.of({"provider": "echo", **options})


# -- calibration ---------------------------------------------------------------------------

JUDGE = [True, True, False, False, True, False, True, True, False, False, True, False]
HUMAN = [True, False, False, False, True, True, True, True, False, False, True, True]


def test_calibration_matches_sklearn_and_hand_counts() -> None:
    result = calibrate(JUDGE, HUMAN)
    assert result.n == 12
    assert result.kappa == pytest.approx(cohen_kappa_score(HUMAN, JUDGE))
    # By hand: agreement 9/12; people say good 7 times, judge agrees on 5; bad 5, agrees on 4.
    # p_e = (7/12)(6/12) + (5/12)(6/12) = 0.5, so kappa = (0.75 - 0.5) / 0.5 = 0.5.
    assert result.kappa == pytest.approx(0.5)
    assert result.agreement == pytest.approx(9 / 12)
    assert result.tpr == pytest.approx(5 / 7) and result.tnr == pytest.approx(4 / 5)
    assert result.warning is not None
    assert "only 12 labelled items (need 30)" in result.warning
    assert "kappa 0.50 is below 0.6" in result.warning
    assert not result.trusted


def test_calibration_trusts_a_judge_that_agrees_on_enough_items() -> None:
    human = [i % 3 != 0 for i in range(60)]
    judged = list(human)
    judged[0], judged[1] = not judged[0], not judged[1]
    result = calibrate(judged, human)
    assert result.kappa is not None and result.kappa > 0.9
    assert result.warning is None and result.trusted


def test_calibration_degenerate_inputs() -> None:
    same = calibrate([True] * 40, [True] * 40)
    assert same.kappa is None and same.warning is not None and "undefined" in same.warning
    assert same.tpr == 1.0 and same.tnr is None
    empty = calibrate([], [])
    assert empty.n == 0 and empty.warning is not None
    with pytest.raises(ValueError, match="human_labels: expected 2 labels"):
        calibrate([True, False], [True])


@pytest.mark.parametrize(
    ("kind", "value", "source", "label"),
    [
        ("thumbs_up", None, "user", True),
        ("thumbs_down", None, "annotator", False),
        ("correction", None, "user", False),
        ("report", None, "user", False),
        ("rating", 3.0, "user", True),
        ("rating", 2.0, "user", False),
        ("rating", 1.0, "user", False),
        ("rating", 1.0, "judge", True),
        ("rating", 0.49, "judge", False),
        ("rating", 4.0, "judge", True),
        ("copy", None, "user", None),
        ("rating", None, "user", None),
    ],
)
def test_feedback_labels(kind: str, value: float | None, source: str, label: bool | None) -> None:
    assert feedback_label(kind, value, source) is label


def _interaction(feature: str) -> Interaction:
    return Interaction(interaction_id=str(uuid.uuid4()), feature=feature, user_input="q")


def _event(
    interaction: Interaction, kind: str, source: str, minutes: int, value: float | None = None
) -> FeedbackEvent:
    return FeedbackEvent(
        interaction_id=interaction.interaction_id,
        feedback_type=kind,
        source=source,
        value=value,
        timestamp=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )


def test_calibrate_from_store_pairs_judge_and_people_per_interaction(store: Store) -> None:
    store.migrate()
    agree, user_only, annotator_wins, judge_only, rated, other = (
        _interaction("summary") for _ in range(6)
    )
    other = _interaction("search")
    store.insert_interactions([agree, user_only, annotator_wins, judge_only, rated, other])
    store.insert_feedback(
        [
            _event(agree, "thumbs_down", "judge", 1),
            verdict_event(  # the latest judge verdict counts
                agree.interaction_id,
                GradingResult(True, 0.9, "fine", judge={"model": "m", "seed": 0}),
                timestamp=datetime(2026, 11, 1, 0, 2, tzinfo=UTC),
            ),
            _event(agree, "thumbs_up", "annotator", 3),
            _event(user_only, "thumbs_down", "judge", 1),
            _event(user_only, "thumbs_up", "user", 2),
            _event(annotator_wins, "thumbs_up", "judge", 1),
            _event(annotator_wins, "thumbs_up", "user", 2),
            _event(annotator_wins, "thumbs_down", "annotator", 3),
            _event(judge_only, "thumbs_up", "judge", 1),
            _event(rated, "rating", "judge", 1, value=0.3),  # a judge's 0-1 score: bad
            _event(rated, "rating", "user", 2, value=4.0),
            _event(rated, "copy", "user", 3),  # no opinion: ignored
            _event(other, "thumbs_up", "judge", 1),
            _event(other, "thumbs_up", "annotator", 2),
        ]
    )
    pairs = labelled_pairs(store, feature="summary")
    assert pairs == {
        agree.interaction_id: (True, True),
        user_only.interaction_id: (False, True),
        annotator_wins.interaction_id: (True, False),
        rated.interaction_id: (False, True),
    }
    assert len(labelled_pairs(store)) == 5
    result = calibrate_from_store(store, feature="summary")
    assert result.n == 4 and result.agreement == pytest.approx(0.25)
    assert result.warning is not None
    only_annotators = labelled_pairs(store, human_sources=("annotator",), feature="summary")
    assert set(only_annotators) == {agree.interaction_id, annotator_wins.interaction_id}
    stored = store.fetch_all(
        "SELECT value, comment, metadata FROM feedback_events"
        " WHERE source = 'judge' AND interaction_id = :id AND feedback_type = 'thumbs_up'",
        {"id": agree.interaction_id},
    )
    assert [(row["value"], row["comment"]) for row in stored] == [(0.9, "fine")]
    later = labelled_pairs(store, since=datetime(2026, 11, 1, 0, 2, tzinfo=UTC))
    assert agree.interaction_id in later and user_only.interaction_id not in later
