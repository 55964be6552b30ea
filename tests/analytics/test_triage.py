"""Triage: the suggestion rules on known evidence, the statistics behind them checked against
statsmodels, a person's confirmation, and both surviving a re-clustering (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from statsmodels.stats.multitest import multipletests

from promptloop.analytics import stats
from promptloop.analytics.clusters import (
    ClusterSettings,
    get_cluster,
    list_clusters,
    run_clustering,
)
from promptloop.analytics.patterns import rates
from promptloop.analytics.triage import TRIAGE_CLASSES, holm, set_triage, suggest
from promptloop.exceptions import NotFoundError
from promptloop.store.base import Store
from tests.analytics.test_clusters_data import NOW, build


def versions(*rows: tuple[str, str, int, int]) -> dict[str, Any]:
    return {
        "versions": [
            {"prompt_version": v, "model": m, "interactions": hits, "traffic": n}
            for v, m, hits, n in rows
        ]
    }


def test_far_from_typical_inputs_is_product_scope() -> None:
    found, evidence = suggest(versions(("1", "a", 50, 1000)), {"ratio": 0.2})
    assert found == "product_scope"
    assert "far from the feature's typical inputs" in evidence["reason"]
    assert evidence["scope"] == {"ratio": 0.2}


def test_a_rate_that_changed_with_a_version_is_prompt_fixable() -> None:
    found, evidence = suggest(versions(("1", "a", 80, 1000), ("2", "a", 20, 1000)), {"ratio": 0.9})
    assert found == "prompt_fixable"
    [change] = evidence["versions"]["changes"]
    assert change["significant"] and change["from"] == "1" and change["to"] == "2"
    assert change["relative_change"] == pytest.approx(-0.75)
    assert "rate changed from 8.00% (1) to 2.00% (2)" in evidence["reason"]


def test_a_rate_that_persists_across_versions_and_models_is_a_model_limitation() -> None:
    found, evidence = suggest(
        versions(("1", "a", 50, 1000), ("2", "b", 52, 1000), ("3", "b", 49, 1000)), None
    )
    assert found == "model_limitation"
    assert "present under 3 prompt versions (1, 2, 3) on 2 model(s)" in evidence["reason"]
    assert not any(change["significant"] for change in evidence["versions"]["changes"])


def test_small_or_single_version_evidence_suggests_nothing() -> None:
    assert suggest(versions(("1", "a", 50, 1000)), None)[0] is None
    # The second version has too little traffic to compare.
    found, evidence = suggest(versions(("1", "a", 50, 1000), ("2", "a", 3, 10)), None)
    assert found is None and evidence["reason"].startswith("not enough evidence")
    # A significant but small change (< 25 %) is not a prompt fix.
    found, _ = suggest(versions(("1", "a", 1000, 10000), ("2", "a", 880, 10000)), None)
    assert found == "model_limitation"


def test_holm_matches_statsmodels() -> None:
    p_values = [0.01, 0.04, 0.03, 0.005, 0.2]
    expected = multipletests(p_values, method="holm")[1]
    assert holm(p_values) == pytest.approx(list(expected))
    assert holm([]) == []


@pytest.mark.parametrize(("count", "total"), [(0, 10), (3, 10), (10, 10), (57, 1234), (1, 2)])
def test_wilson_matches_statsmodels(count: int, total: int) -> None:
    ours = rates.wilson(count, total)
    theirs = stats.wilson(count, total)
    assert ours["low"] == pytest.approx(theirs.low, abs=1e-12)
    assert ours["high"] == pytest.approx(theirs.high, abs=1e-12)
    assert rates.wilson(0, 0)["rate"] is None


@pytest.mark.parametrize("counts", [(30, 400, 55, 410), (0, 50, 5, 60), (12, 12, 30, 31)])
def test_difference_matches_statsmodels(counts: tuple[int, int, int, int]) -> None:
    ours = rates.difference(*counts)
    theirs = stats.difference(*counts)
    for key in ("diff", "low", "high", "z", "p_value"):
        assert ours[key] == pytest.approx(getattr(theirs, key), abs=1e-9), key


# -- on the store ----------------------------------------------------------------------------
@pytest.fixture
def clustered(store: Store) -> list[dict[str, Any]]:
    build().load(store)
    run_clustering(store, ClusterSettings(now=NOW))
    return list_clusters(store)


def by_word(items: list[dict[str, Any]], word: str) -> dict[str, Any]:
    return next(item for item in items if any(w.startswith(word) for w in item["label"].split()))


def test_suggestions_on_the_planted_groups(store: Store, clustered: list[dict[str, Any]]) -> None:
    expected = {
        "flight": "product_scope",
        "code": "product_scope",
        "export": "prompt_fixable",
        "sync": "model_limitation",
    }
    for word, suggestion in expected.items():
        cluster = get_cluster(store, by_word(clustered, word)["cluster_id"])
        assert cluster is not None
        assert cluster["triage"]["suggestion"] == suggestion, (word, cluster["triage"])
        assert cluster["triage"]["class"] is None
        evidence = cluster["triage"]["evidence"]
        assert set(evidence) >= {"scope", "versions", "reason"}
        assert [r["prompt_version"] for r in evidence["versions"]["rates"]] == ["1.0", "2.0"]


def test_a_confirmation_is_recorded_and_survives_a_rerun(
    store: Store, clustered: list[dict[str, Any]]
) -> None:
    sync = by_word(clustered, "sync")
    when = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    done = set_triage(
        store,
        sync["cluster_id"],
        "model_limitation",
        by="ana",
        note="same on every model",
        now=when,
    )
    assert done["triage"]["class"] == "model_limitation"
    assert done["triage"]["by"] == "ana" and done["triage"]["note"] == "same on every model"
    assert done["triage"]["at"] == when
    # Overriding the suggestion is allowed.
    export = by_word(clustered, "export")
    assert (
        set_triage(store, export["cluster_id"][:8], "product_scope", by="bo")["triage"]["class"]
        == "product_scope"
    )
    run_clustering(store, ClusterSettings(now=NOW + timedelta(hours=1)))
    after = list_clusters(store)
    assert {item["cluster_id"] for item in after}.isdisjoint(i["cluster_id"] for i in clustered)
    continued = by_word(after, "sync")
    assert continued["triage"]["class"] == "model_limitation"
    assert continued["triage"]["by"] == "ana"
    assert continued["previous_cluster_id"] == sync["cluster_id"]
    assert by_word(after, "export")["triage"]["class"] == "product_scope"
    assert by_word(after, "flight")["triage"]["class"] is None


def test_bad_triage_is_refused(store: Store, clustered: list[dict[str, Any]]) -> None:
    target = clustered[0]["cluster_id"]
    with pytest.raises(ValueError, match="unknown triage class"):
        set_triage(store, target, "later", by="ana")
    with pytest.raises(ValueError, match="who triaged"):
        set_triage(store, target, TRIAGE_CLASSES[0], by="  ")
    with pytest.raises(NotFoundError):
        set_triage(store, "0b5e6b4e-0000-4000-8000-000000000000", TRIAGE_CLASSES[0], by="ana")
