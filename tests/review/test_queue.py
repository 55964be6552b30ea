"""Queue rules, idempotent enqueueing, priority order, the random sample and double labelling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from promptloop.exceptions import ConfigError, NotFoundError
from promptloop.review import queue
from promptloop.review.config import ReviewSettings, load_settings, settings_from_mapping
from promptloop.review.rules import sampled
from promptloop.store.base import Store
from tests.review.conftest import NOW, filler, world


def _items(store: Store) -> dict[str, dict[str, Any]]:
    return {row["interaction_id"]: row for row in queue.list_items(store, limit=1000)["items"]}


def test_each_rule_picks_its_interactions_and_nothing_else(store: Store) -> None:
    w = world(store)
    down = w.interaction()
    w.event(down, "thumbs_down", category="wrong")
    low = w.interaction()
    w.event(low, "rating", value=1)
    high = w.interaction()
    w.event(high, "rating", value=5)
    regenerated_copied = w.interaction()
    w.event(regenerated_copied, "regenerate", 1)
    w.event(regenerated_copied, "copy", 2)
    judged_good_user_bad = w.interaction()
    w.event(judged_good_user_bad, "thumbs_up", source="judge")
    w.event(judged_good_user_bad, "report", 2)
    judged_bad_annotator_good = w.interaction()
    w.event(judged_bad_annotator_good, "thumbs_down", source="judge")
    w.event(judged_bad_annotator_good, "thumbs_up", 2, source="annotator")
    judge_agrees = w.interaction()
    w.event(judge_agrees, "thumbs_down", source="judge")
    w.event(judge_agrees, "thumbs_down", 2, source="annotator")
    inferred_only = w.interaction()
    w.event(inferred_only, "thumbs_down", source="inferred")
    too_old = w.interaction(hours_ago=24 * 10)
    w.event(too_old, "thumbs_down")
    quiet = filler(w, 5)
    w.save()
    settings = ReviewSettings.model_validate({"rules": {"random_sample": {"rate": 0}}})

    report = queue.enqueue(store, settings, days=7, now=NOW)

    items = _items(store)
    rules = {ident: row["rule"] for ident, row in items.items()}
    assert rules == {
        down: "negative_feedback",
        low: "negative_feedback",
        regenerated_copied: "ambiguous_signals",
        # A user's report is negative feedback too; the disagreement outranks it.
        judged_good_user_bad: "judge_disagreement",
        judged_bad_annotator_good: "judge_disagreement",
    }
    assert not {high, judge_agrees, inferred_only, too_old, *quiet} & set(items)
    assert report["added"] == 5
    assert report["found"]["negative_feedback"] == 3  # down, low, and the reported one
    reasons = items[judged_good_user_bad]["reasons"]
    assert [r["rule"] for r in reasons] == ["judge_disagreement", "negative_feedback"]
    assert "the judge says good, the user says bad" in reasons[0]["reason"]
    assert "thumbs_down (wrong)" in items[down]["reasons"][0]["reason"]
    assert "regenerate then copy" in items[regenerated_copied]["reasons"][0]["reason"]


def test_enqueue_is_idempotent_and_orders_by_priority(store: Store) -> None:
    w = world(store)
    down = w.interaction()
    w.event(down, "thumbs_down")
    both = w.interaction()
    w.event(both, "thumbs_down")
    w.event(both, "copy", 2)
    ambiguous = w.interaction()
    w.event(ambiguous, "regenerate")
    w.event(ambiguous, "copy", 2)
    w.save()
    settings = ReviewSettings.model_validate({"rules": {"random_sample": {"rate": 0}}})

    first = queue.enqueue(store, settings, now=NOW)
    second = queue.enqueue(store, settings, now=NOW + timedelta(minutes=5))

    assert first["added"] == 3 and second["added"] == 0
    order = [row["interaction_id"] for row in queue.list_items(store)["items"]]
    # Two rules on one interaction: the better rule's priority plus a bonus for the other.
    assert order == [both, down, ambiguous]
    assert [row["priority"] for row in queue.list_items(store)["items"]] == [0.85, 0.8, 0.6]
    counts = queue.queue_counts(store)
    assert counts["open"] == 3 and counts["by_rule"]["negative_feedback"] == {"open": 2}


def test_random_sample_is_uniform_seeded_and_stable(duck: Store) -> None:
    store = duck
    w = world(store)
    ids = filler(w, 400)
    w.save()
    settings = ReviewSettings.model_validate(
        {"rules": {"random_sample": {"rate": 0.25, "seed": 3}}, "max_per_rule": 1000}
    )
    queue.enqueue(store, settings, rules=["random_sample"], now=NOW)
    picked = set(_items(store))
    expected = {ident for ident in ids if sampled(ident, 3, 0.25)}
    assert picked == expected
    assert 60 <= len(picked) <= 140  # 100 expected; a binomial with sd ~8.7
    assert all(row["sampled"] for row in _items(store).values())
    other_seed = {ident for ident in ids if sampled(ident, 4, 0.25)}
    assert other_seed != expected


def test_failure_pattern_members_enter_with_the_pattern_named(store: Store) -> None:
    from tests.ui.dataset import clusters

    w = world(store)
    flagged = [w.interaction() for _ in range(12)]
    for ident in flagged:
        w.event(ident, "regenerate")
    w.save()
    clusters(store, NOW)
    settings = ReviewSettings.model_validate(
        {"rules": {"failure_patterns": {"patterns": 1, "per_pattern": 4}}}
    )
    queue.enqueue(store, settings, rules=["failure_patterns"], now=NOW)
    items = _items(store)
    assert len(items) == 4
    reason = next(iter(items.values()))["reasons"][0]["reason"]
    assert reason.startswith('pattern #1 "')


def test_max_per_rule_caps_each_run(duck: Store) -> None:
    store = duck
    w = world(store)
    for _ in range(6):
        w.event(w.interaction(), "thumbs_down")
    w.save()
    settings = ReviewSettings(max_per_rule=4)
    assert queue.enqueue(store, settings, rules=["negative_feedback"], now=NOW)["added"] == 4
    assert queue.enqueue(store, settings, rules=["negative_feedback"], now=NOW)["added"] == 2


def test_double_labelling_share_is_hash_based() -> None:
    ids = [queue.item_id_for(f"00000000-0000-4000-8000-{n:012d}") for n in range(2000)]
    share = sum(queue.double_labelled(ident, 0.1) for ident in ids) / len(ids)
    assert 0.07 < share < 0.13
    assert [queue.double_labelled(i, 0.1) for i in ids] == [
        queue.double_labelled(i, 0.1) for i in ids
    ]
    assert not any(queue.double_labelled(i, 0.0) for i in ids)
    assert all(queue.double_labelled(i, 1.0) for i in ids)


def test_manual_enqueue_needs_an_existing_interaction(duck: Store) -> None:
    store = duck
    w = world(store)
    ident = w.interaction()
    w.save()
    item = queue.enqueue_interaction(store, ident, now=NOW)
    assert item["rule"] == "manual" and item["priority"] == 1.0
    assert queue.enqueue_interaction(store, ident, now=NOW)["item_id"] == item["item_id"]
    with pytest.raises(NotFoundError):
        queue.enqueue_interaction(store, "00000000-0000-4000-8000-00000000ffff")


def test_bad_input_names_the_field(duck: Store, tmp_path: object) -> None:
    store = duck
    with pytest.raises(ValueError, match="rules: unknown"):
        queue.enqueue(store, rules=["everything"])
    with pytest.raises(ValueError, match="days"):
        queue.enqueue(store, days=0)
    with pytest.raises(ValueError, match="reviewer"):
        queue.claim_next(store, "  ")
    with pytest.raises(ConfigError, match=r"rules\.random_sample\.rate"):
        settings_from_mapping({"rules": {"random_sample": {"rate": 2}}})
    with pytest.raises(ConfigError, match="pairs"):
        settings_from_mapping({"rules": {"ambiguous_signals": {"pairs": [["copy", "hug"]]}}})
    with pytest.raises(ConfigError, match="unknown_key"):
        settings_from_mapping({"unknown_key": 1})


def test_settings_load_from_yaml(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "review.yaml"
    path.write_text("double_label_share: 0.5\nrules:\n  random_sample: {rate: 0.2, seed: 9}\n")
    monkeypatch.setenv("PROMPTLOOP_REVIEW_CONFIG", str(path))
    loaded = load_settings()
    assert loaded.double_label_share == 0.5
    assert loaded.rules.random_sample.rate == 0.2 and loaded.rules.random_sample.seed == 9
    assert loaded.rules.negative_feedback.priority == 0.8  # defaults kept
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings()
