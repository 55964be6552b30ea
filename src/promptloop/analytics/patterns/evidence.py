"""Evidence computed from embeddings: how typical a cluster's inputs are for the feature, and
which old cluster a new one continues (so triage survives re-clustering)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from promptloop.analytics.embeddings import Vectors

NEIGHBOUR_SHARE = 0.2
MIN_NEIGHBOURS = 5
MIN_SUCCESSFUL = 30
_CHUNK = 1024
REFERENCE_POINTS = 500
MATCH_OVERLAP = 0.5
MATCH_TERMS = 0.6


def _neighbours(n: int) -> int:
    return max(MIN_NEIGHBOURS, int(NEIGHBOUR_SHARE * n))


def knn_similarity(
    points: Vectors, reference: Vectors, k: int, *, exclude_self: bool = False
) -> NDArray[np.float64]:
    """Each point's mean cosine similarity to its ``k`` most similar reference points. With
    ``exclude_self`` the points are the first rows of ``reference`` and skip themselves."""
    k = min(k, len(reference) - (1 if exclude_self else 0))
    if k < 1 or len(points) == 0:
        return np.zeros(len(points))
    found = np.empty(len(points), dtype=np.float64)
    for start in range(0, len(points), _CHUNK):  # bounded memory: a chunk x the reference
        similarity = points[start : start + _CHUNK] @ reference.T
        if exclude_self:
            rows = np.arange(len(similarity))
            similarity[rows, rows + start] = -np.inf
        top = np.partition(similarity, similarity.shape[1] - k, axis=1)[:, -k:]
        found[start : start + len(similarity)] = top.mean(axis=1)
    return found


@dataclass(frozen=True)
class Typicality:
    """How typical inputs are of what the feature handles well.

    The reference is a sample of the feature's inputs that got no negative signal (repeats
    included: what users often ask and get answered is typical). An input's *typicality* is
    its mean cosine similarity to its nearest 5 % (at least 5) of them; the reference's own
    typicality (each leaving itself out, median) is what "typical" looks like, and a
    cluster's ratio to it says how far out the cluster is.
    """

    successful: Vectors
    neighbours: int
    reference: float

    @classmethod
    def of(cls, successful: Vectors) -> Typicality | None:
        if len(successful) < MIN_SUCCESSFUL:
            return None
        k = _neighbours(len(successful))
        sample = successful[:REFERENCE_POINTS]
        own = knn_similarity(sample, successful, k, exclude_self=True)
        return cls(successful, k, float(np.median(own)))

    def scores(self, points: Vectors) -> NDArray[np.float64]:
        return knn_similarity(points, self.successful, self.neighbours)


def weighted_median(values: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, cumulative[-1] / 2.0))
    return float(values[order][min(index, len(order) - 1)])


def scope_evidence(
    typicality: Typicality,
    vectors: Vectors,
    weights: NDArray[np.float64],
    groups: Sequence[Sequence[int]],
) -> list[dict[str, float | int]]:
    """Per group of rows of ``vectors`` (distinct inputs weighted by their occurrences): its
    typicality (weighted median) and its ratio to the reference's own typicality."""
    scores = typicality.scores(vectors)
    reference = typicality.reference
    found: list[dict[str, float | int]] = []
    for group in groups:
        rows = np.asarray(group, dtype=np.intp)
        value = weighted_median(scores[rows], weights[rows])
        ratio = value / reference if reference > 1e-9 else math.inf
        found.append(
            {
                "typicality": round(value, 4),
                "reference": round(reference, 4),
                "ratio": round(ratio, 4) if math.isfinite(ratio) else 1e9,
                "neighbours": typicality.neighbours,
                "successful_sample": len(typicality.successful),
            }
        )
    return found


def term_similarity(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two word profiles."""
    dot = sum(weight * b.get(term, 0.0) for term, weight in a.items())
    norm_a = math.sqrt(sum(w * w for w in a.values()))
    norm_b = math.sqrt(sum(w * w for w in b.values()))
    return dot / (norm_a * norm_b) if norm_a and norm_b else 0.0


@dataclass(frozen=True)
class Candidate:
    """A cluster seen by the matcher: its members and its word profile."""

    key: str
    members: frozenset[str]
    profile: Mapping[str, float]


def match(new: Sequence[Candidate], old: Sequence[Candidate]) -> dict[str, str]:
    """New cluster key -> the old cluster it continues, one to one, best pairs first.

    A pair qualifies when the member overlap coefficient (shared / smaller cluster) is at
    least 0.5, or the word profiles' cosine similarity at least 0.6 (the members changed
    but the theme did not); its score is the larger of the two.
    """
    pairs: list[tuple[float, str, str]] = []
    for a in new:
        for b in old:
            shared = len(a.members & b.members)
            overlap = shared / min(len(a.members), len(b.members)) if shared else 0.0
            terms = term_similarity(a.profile, b.profile)
            if overlap >= MATCH_OVERLAP or terms >= MATCH_TERMS:
                pairs.append((max(overlap, terms), a.key, b.key))
    pairs.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    matched: dict[str, str] = {}
    taken: set[str] = set()
    for _, a_key, b_key in pairs:
        if a_key not in matched and b_key not in taken:
            matched[a_key] = b_key
            taken.add(b_key)
    return matched
