"""Datasets from production: selection by the analytics' filters, items that keep their
source, candidates curated by people, versions, and JSONL/CSV/promptfoo exchange."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from promptloop.evals import datasets, formats
from promptloop.evals.datasets import DatasetQuery
from promptloop.exceptions import NotFoundError
from promptloop.store.base import Store
from tests.support.records import T0, feedback, interaction


def _seed(store: Store) -> dict[str, str]:
    """Four support interactions: a thumbs-down, a correction, a thumbs-up, and one without
    feedback; plus a thumbs-down in another feature and an old one."""
    store.migrate()
    rows = {
        "down": interaction(
            feature="support",
            user_input="How do I export a PDF?",
            raw_output="Great question! Use Settings.",
        ),
        "corrected": interaction(
            feature="support", user_input="Can I share a notebook?", raw_output="No."
        ),
        "liked": interaction(feature="support", user_input="What is a tag?", raw_output="A label."),
        "quiet": interaction(feature="support", user_input="Hi", raw_output="Hello!"),
        "other": interaction(feature="summarize", user_input="Summarise this", raw_output="..."),
        "old": interaction(
            feature="support", user_input="Old question", timestamp=T0 - timedelta(days=40)
        ),
    }
    store.insert_interactions(list(rows.values()))
    ids = {name: row.interaction_id for name, row in rows.items()}
    store.insert_feedback(
        [
            feedback(ids["down"], "thumbs_down", category="wrong"),
            feedback(ids["corrected"], "correction", user_edit="Yes: open it and choose Share."),
            feedback(ids["liked"], "thumbs_up"),
            feedback(ids["other"], "thumbs_down"),
            feedback(ids["old"], "thumbs_down", timestamp=T0 - timedelta(days=40)),
        ]
    )
    return ids


def test_build_from_negative_feedback_keeps_source_and_reference(store: Store) -> None:
    ids = _seed(store)
    query = DatasetQuery(source="negative", feature="support", since=T0 - timedelta(days=14))
    found = datasets.build_dataset(store, "support-neg", query, holdout_fraction=0.0)
    assert (found["name"], found["version"], found["items"]) == ("support-neg", 1, 2)
    assert found["candidate"] == 2 and found["accepted"] == 0
    items = {i["source_interaction_id"]: i for i in datasets.items(store, "support-neg", 1)}
    assert set(items) == {ids["down"], ids["corrected"]}
    down = items[ids["down"]]
    assert down["vars"] == {"user_input": "How do I export a PDF?"}
    assert down["bad_output"] == "Great question! Use Settings."
    assert down["status"] == "candidate" and down["feedback_types"] == "thumbs_down"
    assert items[ids["corrected"]]["reference"] == "Yes: open it and choose Share."


def test_feedback_type_and_sample_queries(store: Store) -> None:
    ids = _seed(store)
    thumbs = datasets.build_dataset(
        store, "thumbs", DatasetQuery(source="thumbs_down", feature="support")
    )
    assert thumbs["items"] == 2  # the recent one and the old one
    everything = DatasetQuery(source="all", feature="support", since=T0 - timedelta(days=1))
    first = datasets.select_interactions(
        store, DatasetQuery(**{**everything.__dict__, "sample": 2, "seed": 7})
    )
    again = datasets.select_interactions(
        store, DatasetQuery(**{**everything.__dict__, "sample": 2, "seed": 7})
    )
    assert first == again and len(first) == 2
    baseline = datasets.build_dataset(store, "baseline", everything, holdout_fraction=0.0)
    items = {i["source_interaction_id"]: i for i in datasets.items(store, "baseline", 1)}
    # No negative feedback: the item counts from the start; negative ones wait for a person.
    assert items[ids["liked"]]["status"] == "accepted"
    assert items[ids["quiet"]]["accepted_by"] == datasets.AUTO_ACCEPTED
    assert items[ids["down"]]["status"] == "candidate"
    assert baseline["accepted"] == 2


def test_cluster_source_needs_an_id_and_selects_members(store: Store) -> None:
    ids = _seed(store)
    with pytest.raises(ValueError, match="cluster_id"):
        datasets.select_interactions(store, DatasetQuery(source="cluster"))
    store.insert_rows(
        "cluster_members",
        [
            {
                "kind": "negative",
                "interaction_id": ids["down"],
                "cluster_id": "c-export",
                "distance": 0.1,
                "assigned_at": T0,
            }
        ],
    )
    chosen = datasets.select_interactions(
        store, DatasetQuery(source="cluster", cluster_id="c-export")
    )
    assert chosen == [ids["down"]]
    with pytest.raises(ValueError, match="no interactions match"):
        datasets.build_dataset(store, "empty", DatasetQuery(source="cluster", cluster_id="none"))
    assert datasets.list_datasets(store) == []


def test_accepting_needs_an_expected_property(store: Store) -> None:
    ids = _seed(store)
    datasets.build_dataset(
        store, "d", DatasetQuery(feature="support", since=T0 - timedelta(days=1))
    )
    [candidate] = [i for i in datasets.candidates_for_interaction(store, ids["down"])]
    with pytest.raises(ValueError, match="expected"):
        datasets.set_status(store, candidate["item_id"], "accepted", by="ana")
    datasets.accept_candidate(
        store,
        candidate["item_id"],
        expected='{"type": "not-icontains", "value": "great question"}',
        reference="Open the note, choose Export, pick PDF.",
        accepted_by="ana",
    )
    accepted = datasets.item(store, candidate["item_id"][:8])  # a prefix is enough
    assert accepted["status"] == "accepted" and accepted["accepted_by"] == "ana"
    assert accepted["assertions"] == [{"type": "not-icontains", "value": "great question"}]
    assert accepted["reference"] == "Open the note, choose Export, pick PDF."
    assert formats.item_assertions(accepted) == accepted["assertions"]
    rejected = datasets.candidates_for_interaction(store, ids["corrected"])[0]
    datasets.set_status(store, rejected["item_id"], "rejected", by="ana")
    assert datasets.get_dataset(store, "d")["rejected"] == 1
    with pytest.raises(NotFoundError):
        datasets.item(store, "no-such-item")


def test_rubric_expectation_and_versions(store: Store) -> None:
    _seed(store)
    query = DatasetQuery(feature="support", since=T0 - timedelta(days=1))
    first = datasets.build_dataset(store, "d", query)
    second = datasets.build_dataset(store, "d", query)
    assert (first["version"], second["version"]) == (1, 2)
    assert datasets.resolve(store, "d") == ("d", 2)
    assert datasets.resolve(store, "d@1") == ("d", 1)
    item = datasets.items(store, "d", 2, splits=("dev", "holdout"))[0]
    datasets.accept_candidate(
        store, item["item_id"], expected="Answers directly.", reference=None, accepted_by="bo"
    )
    assert formats.item_assertions(datasets.item(store, item["item_id"])) == [
        {"type": "llm-rubric", "value": "Answers directly."}
    ]
    with pytest.raises(ValueError, match="name"):
        datasets.create_version(store, "bad name", [])


def test_jsonl_and_csv_round_trip_and_formula_neutralisation(store: Store) -> None:
    store.migrate()
    records = [
        {
            "input": '=HYPERLINK("http://evil")',
            "expected": "-1 is wrong",
            "status": "accepted",
            "assertions": [{"type": "contains", "value": "@home"}],
        },
        {"input": "+plain question", "reference": "@reference", "vars": {"tone": "formal"}},
    ]
    text = "".join(json.dumps(r) + "\n" for r in records) + "not json\n"
    report = formats.from_jsonl(text)
    assert len(report.items) == 2 and report.errors[0].startswith("line 3:")
    created = datasets.create_version(store, "imp", report.items, holdout_fraction=0.0)
    rows = datasets.items(store, "imp", created["version"])
    csv_text = formats.to_csv(rows)
    for cell in (
        '\'=HYPERLINK(""http://evil"")',
        "'-1 is wrong",
        "'+plain question",
        "'@reference",
    ):
        assert cell in csv_text
    back = formats.from_csv(csv_text)
    assert not back.errors
    assert [i.input for i in back.items] == ['=HYPERLINK("http://evil")', "+plain question"]
    assert back.items[0].assertions == [{"type": "contains", "value": "@home"}]
    assert back.items[1].vars == {"tone": "formal", "user_input": "+plain question"}
    jsonl = formats.from_jsonl(formats.to_jsonl(rows))
    assert [i.reference for i in jsonl.items] == [None, "@reference"]
    bad = formats.from_csv("input,status\nx,maybe\n")
    assert bad.errors == ["row 2: status: 'maybe' is not one of candidate, accepted, rejected"]


def test_promptfoo_export_is_a_tests_file(store: Store) -> None:
    store.migrate()
    report = formats.from_jsonl(
        json.dumps({"input": "How do I fix it?", "expected": "Asks a clarifying question."}) + "\n"
    )
    datasets.create_version(store, "pf", report.items, holdout_fraction=0.0)
    document = yaml.safe_load(
        formats.to_promptfoo(datasets.items(store, "pf", 1), description="pf")
    )
    [test] = document["tests"]
    assert test["vars"] == {"user_input": "How do I fix it?"}
    assert test["assert"] == [{"type": "llm-rubric", "value": "Asks a clarifying question."}]
    assert test["metadata"]["item_id"]


def test_decisions_in_bulk_report_each_failure(store: Store) -> None:
    _seed(store)
    datasets.build_dataset(store, "bulk", DatasetQuery(source="all", feature="support"))
    ids = [row["item_id"] for row in datasets.items(store, "bulk", 1, splits=("dev", "holdout"))]
    done, errors = datasets.decide_many(
        store,
        [ids[0][:7], ids[1], ids[1], "000000", "abc"],
        "accepted",
        by="ana",
        expected="Answers directly.",
    )
    assert [row["item_id"] for row in done] == [ids[0], ids[1]]
    assert all(
        row["status"] == "accepted" and row["expected"] == "Answers directly." for row in done
    )
    assert errors == [
        {"item_id": "000000", "message": "no dataset item 000000"},
        {"item_id": "abc", "message": "no dataset item abc"},
    ]
    candidates = [
        r["item_id"]
        for r in datasets.items(store, "bulk", 1, status="candidate", splits=("dev", "holdout"))
    ]
    done, errors = datasets.decide_many(store, candidates, "accepted", by="ana")
    assert done == [] and all(e["message"].startswith("expected:") for e in errors)
