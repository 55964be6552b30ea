"""Labels: validation, the claim's compare-and-set, and where they flow next (feedback
events, eval datasets, judge calibration, triage)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from promptloop.analytics.clusters import get_cluster
from promptloop.analytics.triage import set_triage
from promptloop.evals.datasets import DatasetQuery, build_dataset, candidates_for_interaction
from promptloop.evals.judge import calibrate_from_store, labelled_pairs
from promptloop.exceptions import ConflictError
from promptloop.review import queue, workflow
from promptloop.review.labels import parse_label
from promptloop.review.onward import ANNOTATORS, calibrate_triage, feedback_events
from promptloop.review.queue import prefill
from promptloop.store.base import Store
from tests.review.conftest import NOW, world


def _annotator_events(store: Store, interaction_id: str) -> list[dict[str, Any]]:
    return store.fetch_all(
        "SELECT * FROM feedback_events WHERE interaction_id = :id AND source = 'annotator'"
        " ORDER BY feedback_type",
        {"id": interaction_id},
    )


def test_bad_label_values_name_their_field() -> None:
    with pytest.raises(ValueError, match=r"^verdict: "):
        parse_label({"verdict": "meh"})
    with pytest.raises(ValueError, match=r"^severity: "):
        parse_label({"verdict": "bad", "severity": "apocalyptic"})
    with pytest.raises(ValueError, match=r"^fixability: "):
        parse_label({"verdict": "bad", "fixability": "later"})
    with pytest.raises(ValueError, match=r"^category: "):
        parse_label({"verdict": "bad", "category": "!!"})
    with pytest.raises(ValueError, match=r"^colour: "):
        parse_label({"verdict": "bad", "colour": "red"})
    label = parse_label({"verdict": "bad", "category": " billing issue ", "notes": "  "})
    assert label.category == "billing issue" and label.notes is None  # custom categories fine


def test_a_label_becomes_annotator_feedback_linked_to_the_interaction(store: Store) -> None:
    w = world(store)
    ident = w.interaction()
    w.event(ident, "thumbs_down", category="wrong", comment="Zapier is not supported")
    w.save()
    view = workflow.next_item(store, "ann", now=NOW)
    assert view is not None and view["prefill"]["category"] == "wrong"  # the widget's category
    label = parse_label(
        {
            "verdict": "bad",
            "category": "wrong",
            "severity": "high",
            "fixability": "prompt_fixable",
            "corrected_answer": "We support Slack and Jira.",
            "notes": "invented an integration",
        }
    )
    result = workflow.label_item(store, view["item"]["item_id"], "ann", label, now=NOW)
    assert result["item"]["status"] == "done"
    events = _annotator_events(store, ident)
    assert [e["feedback_type"] for e in events] == ["correction", "thumbs_down"]
    down = events[1]
    assert down["category"] == "wrong" and down["comment"] == "invented an integration"
    assert down["metadata"]["fixability"] == "prompt_fixable"
    assert down["metadata"]["review_label_id"] == result["label"]["label_id"]
    assert events[0]["user_edit"] == "We support Slack and Jira."
    # Written once: the events' IDs derive from the label.
    again = feedback_events(result["label"])
    assert store.insert_feedback(again) == 0


def test_good_verdict_is_a_thumbs_up_and_unsure_says_nothing() -> None:
    base = {
        "label_id": "l1",
        "item_id": "i1",
        "interaction_id": "00000000-0000-4000-8000-000000000001",
        "reviewer": "ann",
        "created_at": NOW,
        "category": None,
        "notes": None,
        "severity": None,
        "fixability": None,
    }
    good = feedback_events({**base, "verdict": "good", "corrected_answer": "Better wording."})
    assert [e.feedback_type.value for e in good] == ["thumbs_up"]
    assert good[0].metadata["corrected_answer"] == "Better wording."
    assert feedback_events({**base, "verdict": "unsure", "corrected_answer": None}) == []


def test_labelling_without_the_claim_is_refused(store: Store) -> None:
    w = world(store)
    ident = w.interaction()
    w.event(ident, "thumbs_down")
    w.save()
    queue.enqueue(store, rules=["negative_feedback"], now=NOW)
    item_id = queue.item_id_for(ident)
    with pytest.raises(ConflictError, match="nobody holds it"):
        workflow.label_item(store, item_id, "ann", parse_label({"verdict": "bad"}))
    assert _annotator_events(store, ident) == []
    assert store.fetch_all("SELECT * FROM review_labels") == []


def test_labels_accept_dataset_candidates_with_the_correction_as_reference(
    store: Store,
) -> None:
    w = world(store)
    wrong = w.interaction(user_input="Do you integrate with Zapier?")
    w.event(wrong, "thumbs_down", category="wrong")
    fine = w.interaction(user_input="How do I export?")
    w.event(fine, "report")
    w.save()
    build_dataset(store, "support-failures", DatasetQuery(source="negative"))
    assert {c["status"] for c in candidates_for_interaction(store, wrong)} == {"candidate"}

    label = parse_label({"verdict": "bad", "category": "wrong", "corrected_answer": "No."})
    result = workflow.label_interaction(store, wrong, "ann", label, now=NOW)
    good = workflow.label_interaction(store, fine, "bob", parse_label({"verdict": "good"}))

    [accepted] = candidates_for_interaction(store, wrong)
    assert result["onward"]["datasets"]["accepted"] == [accepted["item_id"]]
    assert accepted["status"] == "accepted" and accepted["reference"] == "No."
    assert accepted["accepted_by"] == "ann (review)"
    assert "corrected answer" in accepted["expected"]
    [kept] = candidates_for_interaction(store, fine)
    assert good["onward"]["datasets"]["accepted"] == [kept["item_id"]]
    assert kept["reference"] == f"answer {fine[-4:]}"  # a good output is its own reference


def test_the_judge_calibrates_on_annotator_labels(duck: Store) -> None:
    store = duck
    w = world(store)
    ids = [w.interaction() for _ in range(4)]
    for ident in ids:
        w.event(ident, "thumbs_up", source="judge")
    w.save()
    verdicts = ["bad", "good", "bad", "good"]
    for ident, verdict in zip(ids, verdicts, strict=True):
        workflow.label_interaction(store, ident, "ann", parse_label({"verdict": verdict}), now=NOW)
    pairs = labelled_pairs(store, human_sources=("annotator",))
    assert {ident: pairs[ident] for ident in ids} == {
        ident: (True, verdict == "good") for ident, verdict in zip(ids, verdicts, strict=True)
    }
    calibration = calibrate_from_store(store, human_sources=("annotator",), min_items=1)
    assert calibration.n == 4 and calibration.agreement == 0.5


def test_fixability_labels_confirm_a_patterns_triage(duck: Store) -> None:
    from tests.ui.dataset import clusters

    store = duck
    w = world(store)
    flagged = [w.interaction() for _ in range(12)]
    for ident in flagged:
        w.event(ident, "regenerate")
    w.save()
    clusters(store, NOW)
    members = {
        row["cluster_id"]: [
            m["interaction_id"]
            for m in store.fetch_all(
                "SELECT interaction_id FROM cluster_members WHERE cluster_id = :c"
                " ORDER BY interaction_id",
                {"c": row["cluster_id"]},
            )
        ]
        for row in store.fetch_all("SELECT cluster_id FROM failure_clusters")
    }
    plan = {
        "cluster-export": ["model_limitation"] * 3 + ["prompt_fixable"],  # 3 of 4 agree
        "cluster-calendar": ["product_scope", "prompt_fixable"],  # too few
        "cluster-tone": ["prompt_fixable"] * 3,  # but a person triaged it already
    }
    set_triage(store, "cluster-tone", "product_scope", by="pat", now=NOW)
    for cluster_id, fixes in plan.items():
        for ident, fix in zip(members[cluster_id], fixes, strict=False):
            label = parse_label({"verdict": "bad", "fixability": fix})
            workflow.label_interaction(store, ident, "ann", label, now=NOW)

    result = calibrate_triage(store, min_labels=3, majority=0.6, now=NOW + timedelta(hours=1))

    assert [c["cluster_id"] for c in result["confirmed"]] == ["cluster-export"]
    export = get_cluster(store, "cluster-export", examples=False)
    assert export is not None
    assert export["triage"]["class"] == "model_limitation" and export["triage"]["by"] == ANNOTATORS
    assert "3 of 4 labelled members judged model_limitation" in export["triage"]["note"]
    assert [c["cluster_id"] for c in result["kept_human_triage"]] == ["cluster-tone"]
    tone = get_cluster(store, "cluster-tone", examples=False)
    assert tone is not None and tone["triage"]["class"] == "product_scope"
    assert [c["cluster_id"] for c in result["undecided"]] == ["cluster-calendar"]
    # the dataset's clusters all suggest prompt_fixable: it agreed on neither decided one
    assert result["suggestion_agreement"] == {"compared": 2, "agreed": 1, "rate": 0.5}


def test_prefill_takes_the_users_latest_category_and_edit() -> None:
    feedback: list[dict[str, Any]] = [
        {"source": "user", "feedback_type": "thumbs_down", "category": "wrong", "user_edit": None},
        {"source": "inferred", "feedback_type": "edit", "category": "other", "user_edit": "x"},
        {"source": "user", "feedback_type": "edit", "category": None, "user_edit": "Fixed."},
        {"source": "annotator", "feedback_type": "thumbs_down", "category": "inappropriate"},
    ]
    assert prefill(feedback) == {"category": "wrong", "suggested_correction": "Fixed."}
    assert prefill([]) == {"category": None, "suggested_correction": None}
