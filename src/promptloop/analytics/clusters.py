"""Failure clusters: the systematic gaps behind negative feedback.

Two kinds of clustering, each per feature (or every feature together, ``pooled``):

- ``negative``: the user inputs of interactions with a negative signal in the last N weeks
  (thumbs-down, report, correction, a rating of 2 or less, regeneration, follow-up,
  abandonment, a substantial edit: configurable);
- ``follow_up``: the follow-up questions themselves (the ``related_interaction_id`` inputs
  of ``follow_up`` events), which say what the first answer missed.

:func:`run_clustering` re-clusters a scope from scratch (embedding: ``tfidf`` by default, see
:mod:`promptloop.analytics.embeddings`; grouping: :mod:`promptloop.analytics.patterns.grouping`)
and replaces its active clusters atomically; a new cluster that continues an old one (member
overlap or word profile) inherits its triage. :func:`assign_new` adds new negatively
signalled interactions to the nearest existing cluster, or leaves them unassigned when they
are farther than the cluster's own members. Statistics (share of traffic, trend, signal mix,
per-version rates) are stored with each cluster and refreshed by both.
"""

from __future__ import annotations

import importlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from promptloop.analytics import triage
from promptloop.analytics.embeddings import DEFAULT_EMBEDDING, Embedder, Vectors, get_embedder
from promptloop.analytics.patterns import records, summary
from promptloop.analytics.patterns import sql as q
from promptloop.analytics.patterns.evidence import Candidate, Typicality, match, scope_evidence
from promptloop.analytics.patterns.grouping import (
    MERGE_DISTANCE,
    MIN_SIZE,
    GroupingSettings,
    Theme,
    group_texts,
    normalize_text,
)
from promptloop.analytics.patterns.sql import FOLLOW_UP, KINDS, NEGATIVE, SIGNALS, Scope
from promptloop.core.records import as_utc, utc_now
from promptloop.store.base import Store

__all__ = [
    "FOLLOW_UP",
    "KINDS",
    "NEGATIVE",
    "SIGNALS",
    "ClusterSettings",
    "assign_new",
    "get_cluster",
    "list_clusters",
    "run_clustering",
]

DEFAULT_WEEKS = 4
WEEK = timedelta(days=7)
ASSIGN_MARGIN = 0.1
ASSIGN_MAX_DISTANCE = 0.8
ASSIGN_SAMPLE = 200
NEAREST_CHUNK = 20_000
LABEL_TERMS = 3

THREADS_ENV = "PROMPTLOOP_CLUSTER_THREADS"

# (stage, fraction done) for a progress display.
Progress = Callable[[str, float], None]
_LOCK = threading.Lock()


@contextmanager
def _working() -> Iterator[None]:
    """One clustering at a time, on ``PROMPTLOOP_CLUSTER_THREADS`` (default 1) threads for
    the numeric libraries: their OpenMP/BLAS pools spin-wait, which costs more than it gains
    on a small machine that is doing other work (the collector, ingest)."""
    limits = int(os.environ.get(THREADS_ENV) or 1)
    pools = importlib.import_module("threadpoolctl")
    with _LOCK, pools.threadpool_limits(limits=limits):
        yield


@dataclass(frozen=True)
class ClusterSettings:
    """What to cluster and how. Every field has a documented default (docs/patterns.md)."""

    kind: str = NEGATIVE
    feature: str | None = None  # one feature; None: every feature, each on its own
    pooled: bool = False  # every feature together, as one clustering
    weeks: int = DEFAULT_WEEKS
    signals: tuple[str, ...] = SIGNALS
    embedding: str = DEFAULT_EMBEDDING
    embedding_options: Mapping[str, Any] = field(default_factory=dict)
    max_inputs: int = 100_000  # beyond: cluster a sample, assign the rest
    min_size: int = MIN_SIZE
    merge_distance: float = MERGE_DISTANCE
    successful_sample: int = 2_000
    examples: int = 5
    seed: int = 0
    now: datetime | None = None

    def validated(self) -> ClusterSettings:
        q.check_kind(self.kind)
        if self.weeks < 1 or self.weeks > 520:
            raise ValueError("weeks must be between 1 and 520")
        if self.max_inputs < 10 or self.min_size < 1 or self.examples < 1:
            raise ValueError("max_inputs >= 10, min_size >= 1 and examples >= 1 are required")
        if self.pooled and self.feature is not None:
            raise ValueError("give a feature or pooled, not both")
        return replace(self, signals=q.check_signals(self.signals))


# -- full re-clustering ------------------------------------------------------------------------
def run_clustering(
    store: Store, settings: ClusterSettings | None = None, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Re-cluster and replace the active clusters of each scope the settings name."""
    s = (settings or ClusterSettings()).validated()
    until = as_utc(s.now or utc_now())
    since = until - WEEK * s.weeks
    started = time.monotonic()
    with _working():
        scopes = _populations(store, s, since, until)
        reports = []
        for i, (scope, rows) in enumerate(scopes.items()):
            step = _sub_progress(progress, i, len(scopes), scope)
            reports.append(_run_scope(store, s, scope, rows, until, step))
    if progress:
        progress("done", 1.0)
    return {
        "kind": s.kind,
        "embedding": s.embedding,
        "window": {"since": since, "until": until, "weeks": s.weeks},
        "scopes": reports,
        "clusters": sum(report["clusters"] for report in reports),
        "seconds": round(time.monotonic() - started, 3),
    }


def _sub_progress(progress: Progress | None, i: int, n: int, scope: Scope) -> Progress:
    name = scope.feature or "all features"

    def report(stage: str, fraction: float) -> None:
        if progress:
            progress(f"{name}: {stage}", (i + min(1.0, fraction)) / max(1, n))

    return report


def _populations(
    store: Store, s: ClusterSettings, since: datetime, until: datetime
) -> dict[Scope, list[dict[str, Any]]]:
    """The rows of each scope to cluster (scopes with active clusters but no rows now are
    included, empty, so that their stale clusters are retired)."""
    pooled = Scope(s.kind, None)
    sql, params = q.population(Scope(s.kind, s.feature), s.signals, since, until)
    rows = store.fetch_all(sql, params)
    if s.pooled:
        return {pooled: rows}
    scopes: dict[Scope, list[dict[str, Any]]] = {}
    if s.feature is None:
        existing = store.fetch_all(
            "SELECT DISTINCT feature FROM failure_clusters WHERE active AND kind = :kind "
            "AND feature IS NOT NULL",
            {"kind": s.kind},
        )
        scopes = {Scope(s.kind, str(row["feature"])): [] for row in existing}
    else:
        scopes[Scope(s.kind, s.feature)] = []
    for row in rows:
        if row["feature"] is not None:
            scopes.setdefault(Scope(s.kind, str(row["feature"])), []).append(row)
    return dict(sorted(scopes.items(), key=lambda item: item[0].feature or ""))


@dataclass
class _Draft:
    cluster_id: str
    theme: Theme
    members: list[tuple[str, float]]
    examples: list[dict[str, Any]]
    scope_evidence: dict[str, Any] | None = None


@dataclass
class _Distinct:
    """Distinct inputs (normalised), how often each occurs, and the interactions behind it."""

    texts: list[str]
    weights: np.ndarray
    ids: list[list[str]]

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]]) -> _Distinct:
        by_text: dict[str, list[str]] = {}
        originals: dict[str, str] = {}
        for row in rows:
            key = normalize_text(str(row["user_input"]))
            by_text.setdefault(key, []).append(str(row["interaction_id"]))
            originals.setdefault(key, str(row["user_input"]))
        keys = list(by_text)
        return cls(
            [originals[key] for key in keys],
            np.array([len(by_text[key]) for key in keys], dtype=np.float64),
            [by_text[key] for key in keys],
        )


def _run_scope(
    store: Store,
    s: ClusterSettings,
    scope: Scope,
    rows: list[dict[str, Any]],
    until: datetime,
    progress: Progress,
) -> dict[str, Any]:
    run_id = str(uuid.uuid4())
    started = time.monotonic()
    drafts: list[_Draft] = []
    if rows:
        drafts = _cluster(store, s, scope, rows, until, progress)
    progress("storing", 0.9)
    old = records.active_clusters(store, scope)
    inherited = _inherit(store, scope, drafts, old)
    _write(store, s, scope, run_id, drafts, inherited, until)
    successors = {
        old_id: {**(old_row["stats"] or {}), "successor_id": new_id}
        for new_id, (old_id, old_row) in inherited.items()
    }
    records.swap(store, scope, run_id, successors, utc_now())
    refresh(store, scope, s.signals, until, s.weeks)
    return {
        **scope.as_dict(),
        "run_id": run_id,
        "inputs": len(rows),
        "clusters": len(drafts),
        "clustered": sum(len(d.members) for d in drafts),
        "continued": len(inherited),
        "seconds": round(time.monotonic() - started, 3),
    }


def _cluster(
    store: Store,
    s: ClusterSettings,
    scope: Scope,
    rows: list[dict[str, Any]],
    until: datetime,
    progress: Progress,
) -> list[_Draft]:
    fit_rows, rest = _sample(rows, s)
    distinct = _Distinct.of(fit_rows)
    successful = _successful_inputs(store, s, scope, until)
    embedder = get_embedder(s.embedding, **dict(s.embedding_options))
    progress(f"embedding {len(distinct.texts)} distinct inputs", 0.05)
    embedder.fit([*distinct.texts, *successful])
    vectors = embedder.transform(distinct.texts)
    progress("grouping", 0.4)
    grouping = GroupingSettings(merge_distance=s.merge_distance, min_size=s.min_size, seed=s.seed)
    themes = group_texts(distinct.texts, vectors, distinct.weights, grouping)
    drafts = [_draft(theme, distinct, s.examples) for theme in themes]
    if rest:
        progress(f"assigning {len(rest)} more inputs", 0.6)
        _assign_rest(embedder, drafts, rest)
    typical = Typicality.of(embedder.transform(successful)) if successful else None
    if typical is not None:
        groups = [draft.theme.members for draft in drafts]
        for draft, found in zip(
            drafts, scope_evidence(typical, vectors, distinct.weights, groups), strict=True
        ):
            draft.scope_evidence = dict(found)
    return drafts


def _sample(
    rows: list[dict[str, Any]], s: ClusterSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if len(rows) <= s.max_inputs:
        return rows, []
    chosen = set(random.Random(s.seed).sample(range(len(rows)), s.max_inputs))
    return (
        [row for i, row in enumerate(rows) if i in chosen],
        [row for i, row in enumerate(rows) if i not in chosen],
    )


def _successful_inputs(
    store: Store, s: ClusterSettings, scope: Scope, until: datetime
) -> list[str]:
    if s.successful_sample <= 0:
        return []
    sql, params = q.successful_sample(
        scope, s.signals, until - WEEK * s.weeks, until, s.successful_sample
    )
    return [str(row["user_input"]) for row in store.fetch_all(sql, params)]


def _draft(theme: Theme, distinct: _Distinct, examples: int) -> _Draft:
    members = [
        (interaction_id, float(distance))
        for index, distance in zip(theme.members, theme.distances, strict=True)
        for interaction_id in distinct.ids[index]
    ]
    nearest = np.argsort(theme.distances, kind="stable")[:examples]
    shown = [
        {
            "interaction_id": distinct.ids[theme.members[i]][0],
            "user_input": distinct.texts[theme.members[i]][:500],
            "distance": round(float(theme.distances[i]), 4),
            "occurrences": len(distinct.ids[theme.members[i]]),
        }
        for i in nearest
    ]
    return _Draft(str(uuid.uuid4()), theme, members, shown)


def radius(distances: np.ndarray, weights: np.ndarray | None = None) -> float:
    """How far a new input may be from a cluster's centroid to join it: the 90th percentile
    of the members' distances plus a margin, never beyond ``ASSIGN_MAX_DISTANCE``."""
    if len(distances) == 0:
        return ASSIGN_MARGIN
    order = np.argsort(distances)
    w = np.ones(len(distances)) if weights is None else weights[order]
    cumulative = np.cumsum(w) / w.sum()
    p90 = float(distances[order][min(len(order) - 1, int(np.searchsorted(cumulative, 0.9)))])
    return min(ASSIGN_MAX_DISTANCE, p90 + ASSIGN_MARGIN)


def nearest(
    vectors: Vectors, centroids: Vectors, radii: Sequence[float]
) -> list[tuple[int, float]]:
    """For each vector: (index of the nearest centroid, distance), index -1 when farther
    than that centroid's radius."""
    if len(centroids) == 0:
        return [(-1, 1.0)] * len(vectors)
    limits = np.asarray(radii, dtype=np.float64)
    found: list[tuple[int, float]] = []
    for start in range(0, len(vectors), NEAREST_CHUNK):  # bounded memory
        similarity = vectors[start : start + NEAREST_CHUNK] @ centroids.T
        best = similarity.argmax(axis=1)
        distance = np.clip(1.0 - similarity[np.arange(len(best)), best], 0.0, 2.0)
        keep = distance <= limits[best]
        found += [
            (int(b) if k else -1, float(d)) for b, d, k in zip(best, distance, keep, strict=True)
        ]
    return found


def _assign_rest(embedder: Embedder, drafts: list[_Draft], rest: list[dict[str, Any]]) -> None:
    distinct = _Distinct.of(rest)
    vectors = embedder.transform(distinct.texts)
    centroids = np.array([d.theme.centroid for d in drafts], dtype=np.float32)
    radii = [radius(d.theme.distances) for d in drafts]
    for index, (best, distance) in enumerate(nearest(vectors, centroids, radii)):
        if best >= 0:
            drafts[best].members += [(i, distance) for i in distinct.ids[index]]


def _inherit(
    store: Store, scope: Scope, drafts: list[_Draft], old: list[dict[str, Any]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """New cluster ID -> (old cluster ID, old row) it continues."""
    if not drafts or not old:
        return {}
    members = records.member_ids(store, scope)
    new = [
        Candidate(d.cluster_id, frozenset(i for i, _ in d.members), d.theme.profile) for d in drafts
    ]
    previous = [
        Candidate(
            row["cluster_id"],
            frozenset(members.get(row["cluster_id"], ())),
            (row.get("centroid") or {}).get("terms") or {},
        )
        for row in old
    ]
    by_id = {row["cluster_id"]: row for row in old}
    return {new_id: (old_id, by_id[old_id]) for new_id, old_id in match(new, previous).items()}


def label_of(top_terms: Sequence[tuple[str, float]], example: str | None) -> str:
    """A readable label: the top distinctive terms, else the most representative input."""
    if top_terms:
        return " · ".join(term for term, _ in top_terms[:LABEL_TERMS])
    text = " ".join((example or "(no words)").split())
    return text if len(text) <= 60 else text[:59] + "…"


def _write(
    store: Store,
    s: ClusterSettings,
    scope: Scope,
    run_id: str,
    drafts: list[_Draft],
    inherited: Mapping[str, tuple[str, dict[str, Any]]],
    until: datetime,
) -> None:
    created = utc_now()
    rows = [
        _row(s, scope, run_id, draft, inherited.get(draft.cluster_id), created) for draft in drafts
    ]
    if rows:
        store.insert_rows("failure_clusters", rows)
    records.insert_members(
        store,
        scope.kind,
        created,
        ((d.cluster_id, i, distance) for d in drafts for i, distance in d.members),
    )


def _row(
    s: ClusterSettings,
    scope: Scope,
    run_id: str,
    draft: _Draft,
    previous: tuple[str, dict[str, Any]] | None,
    created: datetime,
) -> dict[str, Any]:
    old = previous[1] if previous else {}
    theme = draft.theme
    example = draft.examples[0]["user_input"] if draft.examples else None
    stats = {
        "examples": draft.examples,
        "settings": {"signals": list(s.signals), "weeks": s.weeks},
        "previous_cluster_id": previous[0] if previous else None,
    }
    return {
        "cluster_id": draft.cluster_id,
        "run_id": run_id,
        "kind": scope.kind,
        "feature": scope.feature,
        "label": label_of(theme.top_terms, example),
        "top_terms": records.dumps(theme.top_terms),
        "size": len(draft.members),
        "representative_ids": records.dumps([e["interaction_id"] for e in draft.examples]),
        "signal_mix": records.dumps({}),
        "centroid": records.dumps({"terms": theme.profile}),
        "embedding": s.embedding,
        "created_at": created,
        "active": False,
        "triage": old.get("triage"),
        "triage_suggestion": None,
        "triage_evidence": records.dumps({"scope": draft.scope_evidence}),
        "triaged_by": old.get("triaged_by"),
        "triaged_at": old.get("triaged_at"),
        "triage_note": old.get("triage_note"),
        "stats": records.dumps(stats),
    }


# -- statistics --------------------------------------------------------------------------------
def refresh(
    store: Store, scope: Scope, signals: Sequence[str], until: datetime, weeks: int
) -> None:
    """Recompute the stored statistics and triage suggestion of the scope's active clusters."""
    clusters = records.active_clusters(store, scope)
    if not clusters:
        return
    ids = [row["cluster_id"] for row in clusters]
    computed = summary.compute(store, scope, tuple(signals), until, weeks, ids)
    statements: list[tuple[str, Mapping[str, Any]]] = []
    for row in clusters:
        parts = computed[row["cluster_id"]]
        stats = {**(row["stats"] or {}), **parts["stats"]}
        scope_evidence = (row["triage_evidence"] or {}).get("scope")
        suggestion, evidence = triage.suggest(stats, scope_evidence)
        statements.append(
            (
                "UPDATE failure_clusters SET size = :size, stats = :stats, "
                "signal_mix = :mix, triage_suggestion = :suggestion, "
                "triage_evidence = :evidence WHERE cluster_id = :id",
                {
                    "size": int(stats["interactions"]),
                    "stats": records.dumps(stats),
                    "mix": records.dumps(parts["signal_mix"]),
                    "suggestion": suggestion,
                    "evidence": records.dumps(evidence),
                    "id": row["cluster_id"],
                },
            )
        )
    store.transaction(statements)


# -- incremental assignment ----------------------------------------------------------------------
def assign_new(
    store: Store,
    *,
    kind: str | None = None,
    feature: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Assign negatively signalled interactions that arrived since the clustering to the
    nearest active cluster of their scope; leave them unassigned when they are farther from
    it than its own members (see :func:`radius`). Statistics are refreshed."""
    if kind is not None:
        q.check_kind(kind)
    until = as_utc(now or utc_now())
    started = time.monotonic()
    with _working():
        rows = store.fetch_all(
            "SELECT kind, feature, embedding, stats FROM failure_clusters WHERE active"
        )
        chosen = [
            row
            for row in rows
            if (kind is None or row["kind"] == kind)
            and (feature is None or row["feature"] == feature)
        ]
        reports = []
        for i, scope in enumerate(records.scopes_of(chosen)):
            if progress:
                progress(f"{scope.feature or 'all features'}: assigning", i / len(chosen))
            example = next(r for r in chosen if Scope(r["kind"], r["feature"]) == scope)
            reports.append(_assign_scope(store, scope, example, until))
    return {
        "scopes": reports,
        "assigned": sum(r["assigned"] for r in reports),
        "unassigned": sum(r["unassigned"] for r in reports),
        "seconds": round(time.monotonic() - started, 3),
    }


def _assign_scope(
    store: Store, scope: Scope, example: Mapping[str, Any], until: datetime
) -> dict[str, Any]:
    settings = (records.loads(example["stats"]) or {}).get("settings") or {}
    signals = q.check_signals(settings.get("signals") or SIGNALS)
    weeks = int(settings.get("weeks") or DEFAULT_WEEKS)
    sql, params = q.population(scope, signals, until - WEEK * weeks, until, unassigned_only=True)
    rows = store.fetch_all(sql, params)
    by_cluster: dict[str, int] = {}
    if rows:
        by_cluster = _assign_rows(store, scope, str(example["embedding"]), rows, until)
    refresh(store, scope, signals, until, weeks)
    assigned = sum(by_cluster.values())
    return {
        **scope.as_dict(),
        "examined": len(rows),
        "assigned": assigned,
        "unassigned": len(rows) - assigned,
        "by_cluster": by_cluster,
    }


def _assign_rows(
    store: Store, scope: Scope, embedding: str, rows: list[dict[str, Any]], until: datetime
) -> dict[str, int]:
    sql, params = q.member_sample(scope, ASSIGN_SAMPLE)
    sample = store.fetch_all(sql, params)
    cluster_ids = sorted({str(row["cluster_id"]) for row in sample})
    if not cluster_ids:
        return {}
    new = _Distinct.of(rows)
    embedder = get_embedder(embedding)
    embedder.fit([*[str(r["user_input"]) for r in sample], *new.texts])
    centroids, radii = _centroids(embedder, sample, cluster_ids)
    members: list[tuple[str, str, float]] = []
    for index, (best, distance) in enumerate(
        nearest(embedder.transform(new.texts), centroids, radii)
    ):
        if best >= 0:
            members += [(cluster_ids[best], i, distance) for i in new.ids[index]]
    records.insert_members(store, scope.kind, utc_now(), members)
    counts: dict[str, int] = {}
    for cluster_id, _, _ in members:
        counts[cluster_id] = counts.get(cluster_id, 0) + 1
    return counts


def _centroids(
    embedder: Embedder, sample: list[dict[str, Any]], cluster_ids: list[str]
) -> tuple[Vectors, list[float]]:
    """Each cluster's centroid and radius, from a sample of its members, in this embedding."""
    vectors = embedder.transform([str(r["user_input"]) for r in sample])
    owner = np.array([cluster_ids.index(str(r["cluster_id"])) for r in sample])
    centroids: list[np.ndarray] = []
    radii: list[float] = []
    for index in range(len(cluster_ids)):
        own = vectors[owner == index]
        mean = own.mean(axis=0)
        centroid = mean / max(float(np.linalg.norm(mean)), 1e-12)
        centroids.append(centroid)
        radii.append(radius(np.clip(1.0 - own @ centroid, 0.0, 2.0)))
    return np.asarray(centroids, dtype=np.float32), radii


# -- reading -------------------------------------------------------------------------------------
def list_clusters(
    store: Store,
    *,
    kind: str | None = None,
    feature: str | None = None,
    include_inactive: bool = False,
) -> list[dict[str, Any]]:
    """Clusters (active ones unless ``include_inactive``), largest first, as views."""
    clauses = ["TRUE" if include_inactive else "active"]
    params: dict[str, Any] = {}
    if kind is not None:
        clauses.append("kind = :kind")
        params["kind"] = q.check_kind(kind)
    if feature is not None:
        clauses.append("feature = :feature")
        params["feature"] = feature
    rows = store.fetch_all(
        f"SELECT * FROM failure_clusters WHERE {' AND '.join(clauses)} "
        "ORDER BY active DESC, size DESC, cluster_id",
        params,
    )
    return [records.view(records.decoded(row), examples=False) for row in rows]


def get_cluster(
    store: Store, cluster_id: str, *, examples: bool = True, follow: bool = True
) -> dict[str, Any] | None:
    """One cluster with its examples, trend and evidence. An inactive cluster that was
    continued by a later run resolves to its active successor (``follow``); the answer then
    says which ID was asked for in ``requested_id``."""
    row = _row_by_id(store, resolve_id(store, cluster_id))
    hops = 0
    while follow and row is not None and not row["active"] and hops < 50:
        successor = (row.get("stats") or {}).get("successor_id")
        if not successor:
            break
        row, hops = _row_by_id(store, str(successor)) or row, hops + 1
    if row is None:
        return None
    found = records.view(row, examples=examples)
    if found["cluster_id"] != cluster_id:
        found["requested_id"] = cluster_id
    return found


def resolve_id(store: Store, reference: str) -> str:
    """A cluster ID from its full form or an unambiguous prefix of 6+ characters (what the
    CLI's tables show); unknown references come back unchanged."""
    reference = reference.strip()
    if len(reference) < 6 or _row_by_id(store, reference) is not None:
        return reference
    rows = store.fetch_all(
        "SELECT cluster_id FROM failure_clusters WHERE cluster_id LIKE :prefix "
        "ORDER BY cluster_id LIMIT 2",
        {"prefix": reference.replace("%", "").replace("_", "") + "%"},
    )
    if len(rows) > 1:
        raise ValueError(f"{reference!r} is the start of more than one cluster ID: give more")
    return str(rows[0]["cluster_id"]) if rows else reference


def _row_by_id(store: Store, cluster_id: str) -> dict[str, Any] | None:
    rows = store.fetch_all(
        "SELECT * FROM failure_clusters WHERE cluster_id = :id", {"id": cluster_id}
    )
    return records.decoded(rows[0]) if rows else None
