"""Agreement statistics against the reference implementation (scikit-learn)."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from promptloop.review import workflow
from promptloop.review.agreement import agreement, cohen_kappa, interpret
from promptloop.review.config import ReviewSettings
from promptloop.review.labels import parse_label
from promptloop.store.base import Store
from tests.review.conftest import NOW, world

LABELS = st.sampled_from(["good", "bad", "unsure"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(LABELS, LABELS), min_size=1, max_size=60))
def test_kappa_matches_scikit_learn(pairs: list[tuple[str, str]]) -> None:
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    ours = cohen_kappa(first, second)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns where kappa is undefined (0/0)
        reference = float(cohen_kappa_score(first, second))
    if math.isnan(reference):
        assert ours is None
    else:
        assert ours == pytest.approx(reference, abs=1e-12)


def test_known_values() -> None:
    # Cohen (1960)-style 2x2 table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(["a", "b"], ["a", "b"]) == 1.0
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["a"], [])
    assert [interpret(k) for k in (0.9, 0.7, 0.5, 0.3, 0.1, -0.2, None)] == [
        "almost perfect",
        "substantial",
        "moderate",
        "fair",
        "slight",
        "poor",
        "undefined",
    ]


def test_agreement_per_field_from_double_labels(duck: Store) -> None:
    store = duck
    settings = ReviewSettings(double_label_share=1.0)
    w = world(store)
    ids = [w.interaction() for _ in range(8)]
    w.save()
    ann = ["bad", "bad", "good", "good", "bad", "unsure", "good", "bad"]
    bob = ["bad", "good", "good", "good", "bad", "bad", "good", "bad"]
    ann_fix = ["prompt_fixable", None, None, None, "model_limitation", None, None, "prompt_fixable"]
    bob_fix = ["prompt_fixable", None, None, None, "prompt_fixable", None, None, "prompt_fixable"]
    for index, ident in enumerate(ids):
        for name, verdicts, fixes in (("ann", ann, ann_fix), ("bob", bob, bob_fix)):
            label = parse_label({"verdict": verdicts[index], "fixability": fixes[index]})
            workflow.label_interaction(store, ident, name, label, settings, now=NOW)

    found = agreement(store)

    assert found["double_labelled_items"] == 8
    verdict = found["fields"]["verdict"]
    assert verdict["pairs"] == 8 and verdict["agreement"] == 0.75
    assert verdict["kappa"] == pytest.approx(cohen_kappa_score(ann, bob), abs=1e-4)
    fix = found["fields"]["fixability"]
    assert fix["pairs"] == 3  # only items where both gave one
    assert fix["kappa"] == pytest.approx(
        cohen_kappa_score(
            ["prompt_fixable", "model_limitation", "prompt_fixable"], ["prompt_fixable"] * 3
        ),
        abs=1e-4,
    )
    assert found["fields"]["severity"] == {
        "pairs": 0,
        "agreement": None,
        "kappa": None,
        "interpretation": "undefined",
    }
    disagreements = found["disagreements"]
    # verdict disagreements first, then the rest
    assert {d["interaction_id"] for d in disagreements[:2]} == {ids[1], ids[5]}
    assert disagreements[2]["interaction_id"] == ids[4]
    assert disagreements[2]["fields"] == ["fixability"]
    assert {lb["reviewer"] for lb in disagreements[0]["labels"]} == {"ann", "bob"}
