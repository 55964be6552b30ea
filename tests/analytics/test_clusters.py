"""Failure clusters on both backends: planted groups recovered, stored with their statistics,
replaced by a re-run, extended incrementally, and the follow-up questions clustered apart."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from promptloop.analytics.clusters import (
    ClusterSettings,
    assign_new,
    get_cluster,
    list_clusters,
    run_clustering,
)
from promptloop.analytics.embeddings import TfidfEmbedder, tokenize
from promptloop.analytics.patterns.grouping import group_texts
from promptloop.store.base import Store
from tests.analytics.test_clusters_data import FEATURE, NOW, Builder, Dataset, build

SETTINGS = ClusterSettings(now=NOW)


def members(store: Store) -> dict[str, set[str]]:
    rows = store.fetch_all(
        "SELECT m.cluster_id, m.interaction_id FROM cluster_members m "
        "JOIN failure_clusters c ON c.cluster_id = m.cluster_id WHERE c.active"
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["cluster_id"], set()).add(row["interaction_id"])
    return found


def best_match(found: dict[str, set[str]], truth: set[str]) -> tuple[str, float, float]:
    """The cluster with the highest F1 against ``truth``: (id, precision, recall)."""

    def f1(ids: set[str]) -> float:
        hit = len(ids & truth)
        return 2 * hit / (len(ids) + len(truth)) if hit else 0.0

    cluster_id = max(found, key=lambda key: f1(found[key]))
    hit = len(found[cluster_id] & truth)
    return cluster_id, hit / len(found[cluster_id]), hit / len(truth)


@pytest.fixture
def planted(store: Store) -> Dataset:
    return build().load(store)


@pytest.fixture
def clustered(store: Store, planted: Dataset) -> dict[str, Any]:
    return run_clustering(store, SETTINGS)


# -- the grouping itself (no store) ----------------------------------------------------------
def test_tokens_are_stemmed_without_stop_words() -> None:
    assert tokenize("What integrations do you support?") == ("integration", "support")
    assert tokenize("How do I export my Notes to PDF?") == ("export", "note", "pdf")


def test_grouping_finds_themes_without_being_told_how_many() -> None:
    texts = [f"book a flight to {city}" for city in ("Rome", "Oslo", "Lima", "Kyiv")] * 3
    texts += [f"write {lang} code to parse csv" for lang in ("Go", "Rust", "Java")] * 4
    texts += ["how do i export my notes to pdf", "export notes as pdf please"] * 6
    embedder = TfidfEmbedder()
    embedder.fit(texts)
    themes = group_texts(texts, embedder.transform(texts))
    assert len(themes) == 3
    words = [" ".join(term for term, _ in theme.top_terms).split() for theme in themes]
    assert any("flight" in w for w in words) and any("code" in w for w in words)
    for theme in themes:
        assert len({texts[i].split()[0] for i in theme.members}) <= 2  # one theme each
        assert np.all(theme.distances >= 0) and np.all(theme.distances <= 1)


def test_grouping_is_deterministic() -> None:
    texts = [f"book a flight to city {i % 7}" for i in range(40)] + [
        f"write code number {i % 5}" for i in range(40)
    ]
    embedder = TfidfEmbedder()
    embedder.fit(texts)
    vectors = embedder.transform(texts)
    first = [t.members for t in group_texts(texts, vectors)]
    assert first == [t.members for t in group_texts(texts, vectors)]


# -- a run on the store ------------------------------------------------------------------------
def test_planted_groups_are_recovered(
    store: Store, planted: Dataset, clustered: dict[str, Any]
) -> None:
    assert clustered["scopes"][0]["feature"] == FEATURE
    found = members(store)
    for name, truth in planted.groups.items():
        _, precision, recall = best_match(found, truth)
        assert precision >= 0.9 and recall >= 0.9, (name, precision, recall)


def test_each_cluster_has_label_share_examples_mix_and_trend(
    store: Store, planted: Dataset, clustered: dict[str, Any]
) -> None:
    found = members(store)
    travel_id, _, _ = best_match(found, planted.groups["travel"])
    cluster = get_cluster(store, travel_id)
    assert cluster is not None
    assert any(word in cluster["label"] for word in ("flight", "book", "trip", "hotel"))
    traffic = len(planted.interactions)
    assert cluster["feature_interactions"] == traffic
    assert cluster["interactions"] == len(found[travel_id])
    share = cluster["share"]
    assert share["count"] == cluster["interactions"] and share["n"] == traffic
    assert share["low"] < share["rate"] < share["high"]
    assert cluster["per_week"] == pytest.approx(cluster["interactions"] / 4, abs=0.01)
    assert len(cluster["trend"]) == 4
    assert sum(week["interactions"] for week in cluster["trend"]) == cluster["interactions"]
    assert sum(week["feature_interactions"] for week in cluster["trend"]) == traffic
    examples = cluster["examples"]
    assert 1 <= len(examples) <= 5
    ids = {i.interaction_id: i for i in planted.interactions}
    for example in examples:
        assert ids[example["interaction_id"]].user_input == example["user_input"]
    assert [e["distance"] for e in examples] == sorted(e["distance"] for e in examples)
    mix = cluster["signal_mix"]
    assert mix["types"] == {"thumbs_down": 18, "abandon": 18}
    assert mix["categories"] == {"off_topic": 18}
    assert mix["labels"] == {"off_topic": 18, "abandonment": 18}


def test_listing_is_largest_first_and_filters(store: Store, clustered: dict[str, Any]) -> None:
    listed = list_clusters(store)
    assert len(listed) == clustered["clusters"] >= 4
    assert [c["size"] for c in listed] == sorted((c["size"] for c in listed), reverse=True)
    assert list_clusters(store, feature="other") == []
    assert list_clusters(store, kind="follow_up") == []
    with pytest.raises(ValueError, match="unknown cluster kind"):
        list_clusters(store, kind="nope")


def test_signals_are_configurable(store: Store, planted: Dataset) -> None:
    run_clustering(store, ClusterSettings(now=NOW, signals=("thumbs_down",)))
    clustered_ids = set().union(*members(store).values())
    thumbs_down = {f.interaction_id for f in planted.feedback if f.feedback_type == "thumbs_down"}
    assert clustered_ids <= thumbs_down
    assert len(clustered_ids) >= 0.9 * len(thumbs_down)


def test_a_rerun_replaces_the_active_clusters(
    store: Store, planted: Dataset, clustered: dict[str, Any]
) -> None:
    before = {c["cluster_id"] for c in list_clusters(store)}
    again = run_clustering(store, SETTINGS)
    after = {c["cluster_id"] for c in list_clusters(store)}
    assert before.isdisjoint(after)
    assert again["scopes"][0]["continued"] == len(after) == len(before)
    inactive = [c for c in list_clusters(store, include_inactive=True) if not c["active"]]
    assert {c["cluster_id"] for c in inactive} == before
    # Members of retired clusters are gone; each old cluster points at its successor.
    assert set(members(store)) == after
    old = inactive[0]
    assert old["successor_id"] in after
    resolved = get_cluster(store, old["cluster_id"])
    assert resolved is not None and resolved["cluster_id"] == old["successor_id"]
    assert resolved["requested_id"] == old["cluster_id"]
    assert resolved["previous_cluster_id"] == old["cluster_id"]
    unresolved = get_cluster(store, old["cluster_id"], follow=False)
    assert unresolved is not None and not unresolved["active"]


def test_an_empty_window_retires_the_clusters(store: Store, clustered: dict[str, Any]) -> None:
    later = ClusterSettings(now=NOW + timedelta(days=120), feature=FEATURE)
    report = run_clustering(store, later)
    assert report["clusters"] == 0 and report["scopes"][0]["inputs"] == 0
    assert list_clusters(store) == []


def test_pooled_clustering_is_its_own_scope(store: Store, clustered: dict[str, Any]) -> None:
    pooled = run_clustering(store, ClusterSettings(now=NOW, pooled=True))
    assert pooled["scopes"][0]["feature"] is None
    listed = list_clusters(store)
    per_feature = [c for c in listed if c["feature"] == FEATURE]
    assert len(per_feature) == clustered["clusters"]  # untouched
    assert len(listed) == len(per_feature) + pooled["clusters"]


def test_a_sample_is_clustered_and_the_rest_assigned(store: Store, planted: Dataset) -> None:
    report = run_clustering(store, ClusterSettings(now=NOW, max_inputs=120))
    assert report["scopes"][0]["inputs"] > 120
    found = members(store)
    for name in ("travel", "code", "sync"):
        _, precision, recall = best_match(found, planted.groups[name])
        assert precision >= 0.9 and recall >= 0.8, name


# -- incremental assignment ------------------------------------------------------------------
def test_new_interactions_join_the_nearest_cluster_or_none(
    store: Store, planted: Dataset, clustered: dict[str, Any]
) -> None:
    travel_id, _, _ = best_match(members(store), planted.groups["travel"])
    before = get_cluster(store, travel_id)
    assert before is not None
    b = Builder(seed=99)
    later = NOW + timedelta(hours=6)
    fits = b.interaction("Book me a flight to Rome on Friday", later)
    b.signal(fits, "thumbs_down", category="off_topic")
    far = b.interaction("What is the boiling point of mercury in kelvin", later)
    b.signal(far, "thumbs_down")
    b.data.load(store)
    report = assign_new(store, now=NOW + timedelta(hours=7))
    assert report["assigned"] == 1 and report["unassigned"] == 1
    assert report["scopes"][0]["by_cluster"] == {travel_id: 1}
    assert fits.interaction_id in members(store)[travel_id]
    after = get_cluster(store, travel_id)
    assert after is not None and after["size"] == before["size"] + 1
    again = assign_new(store, now=NOW + timedelta(hours=8))
    assert again["assigned"] == 0 and again["unassigned"] == 1  # the far one, looked at again


# -- follow-up questions ---------------------------------------------------------------------
def test_follow_up_questions_are_clustered_separately(store: Store) -> None:
    b = Builder(seed=5)
    texts = ("That didn't work, the option is missing", "I already tried that, still broken")
    for i in range(40):
        first = b.interaction(f"How do I export my notes to PDF on device {i % 4}?", b.when())
        later = b.interaction(texts[i % 2], first.timestamp + timedelta(minutes=1))
        b.signal(first, "follow_up", source="inferred", related_interaction_id=later.interaction_id)
        if i % 4 == 0:
            b.signal(first, "thumbs_down", category="wrong")
    b.data.load(store)
    report = run_clustering(store, ClusterSettings(kind="follow_up", now=NOW))
    assert report["kind"] == "follow_up" and report["clusters"] == 2
    clusters = list_clusters(store, kind="follow_up")
    assert {c["size"] for c in clusters} == {20}
    followed = [i.interaction_id for i in b.data.interactions if i.user_input in texts]
    clustered_ids = set().union(*members(store).values())
    assert clustered_ids == set(followed)
    mix = Counter[str]()
    for cluster in clusters:
        mix.update(cluster["signal_mix"]["types"])
    # The signals are those on the answers the questions followed.
    assert mix == {"follow_up": 40, "thumbs_down": 10}
    assert list_clusters(store, kind="negative") == []


def test_bad_settings_are_refused(store: Store) -> None:
    for bad in (
        ClusterSettings(kind="nope"),
        ClusterSettings(weeks=0),
        ClusterSettings(signals=("love",)),
        ClusterSettings(pooled=True, feature="x"),
    ):
        with pytest.raises(ValueError):
            run_clustering(store, bad)
