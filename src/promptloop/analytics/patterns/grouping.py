"""Grouping texts into failure themes without being told how many there are (no store here).

Method (docs/patterns.md explains the choices):

1. **Deduplicate.** Identical inputs (after lower-casing and collapsing whitespace) are one
   point, weighted by how often they occur.
2. **Over-segment.** Weighted k-means on the embedding vectors (MiniBatchKMeans beyond
   5,000 distinct texts) with k0 = min(256, 4·sqrt(distinct texts)) cells: many more cells
   than themes, so that a cell rarely mixes two themes.
3. **Merge cells into themes by their words.** Each cell gets a TF-IDF profile (the summed
   term counts of its texts times the corpus-level inverse document frequency), and cells
   are joined by average-linkage agglomerative clustering on the cosine distance between
   profiles, cut at ``merge_distance`` = 0.75: cells whose words overlap with a cosine of 0.25
   or more on average become one theme. The number of themes comes out of the data: the
   variants of one request ("book a flight to X", "book a hotel in X for my trip") share
   words and merge; unrelated requests do not.
4. **Refine.** A point moves to the theme whose centroid is nearest when that is clearly
   nearer (cosine similarity higher by 0.1) than its own theme's (up to three rounds): this
   undoes the odd point a mixed cell dragged into the wrong theme.
5. **Drop specks.** Themes lighter than ``min_size`` are left unclustered.
6. **Describe.** Each theme's centroid (weighted mean vector), each member's cosine distance
   to it, and its most distinctive terms (class-based TF-IDF against the other themes).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from promptloop.analytics.embeddings import Vectors, normalized, readable, word_ngrams

MAX_CELLS = 256
CELLS_PER_SQRT = 4.0
MERGE_DISTANCE = 0.75
MIN_SIZE = 5
TOP_TERMS = 8
PROFILE_TERMS = 30
REFINE_ROUNDS = 3
LABEL_TEXTS = 300
REFINE_MARGIN = 0.1
_MINIBATCH_FROM = 5_000

Floats = NDArray[np.float64]
Labels = NDArray[np.intp]


@dataclass(frozen=True)
class GroupingSettings:
    merge_distance: float = MERGE_DISTANCE
    min_size: float = MIN_SIZE
    max_cells: int = MAX_CELLS
    seed: int = 0


@dataclass
class Theme:
    """One group of texts: indexes into the texts given to :func:`group_texts`."""

    members: list[int]
    centroid: Vectors
    distances: Floats  # cosine distance of each member to the centroid
    top_terms: list[tuple[str, float]] = field(default_factory=list)
    profile: dict[str, float] = field(default_factory=dict)  # word -> weight, for matching
    weight: float = 0.0


@dataclass
class TermCounts:
    matrix: sp.csr_matrix  # texts x terms, weighted counts
    terms: list[str]

    def words_only(self) -> TermCounts:
        """The same counts without the bigrams."""
        keep = [i for i, term in enumerate(self.terms) if " " not in term]
        return TermCounts(sp.csr_matrix(self.matrix[:, keep]), [self.terms[i] for i in keep])


def normalize_text(text: str) -> str:
    return " ".join(text.lower().split())


def group_texts(
    texts: Sequence[str],
    vectors: Vectors,
    weights: Floats | None = None,
    settings: GroupingSettings | None = None,
) -> list[Theme]:
    """Group distinct ``texts`` (with their ``vectors`` and occurrence ``weights``) into
    themes, heaviest first. Texts in no theme are left unclustered."""
    settings = settings or GroupingSettings()
    if not texts:
        return []
    w = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=np.float64)
    cells = over_segment(vectors, w, settings)
    counts = term_counts(texts, w)
    labels = merge_cells(cells, counts.words_only(), settings.merge_distance)
    labels = refine(labels, vectors, w)
    themes = describe(labels, vectors, w, counts, settings.min_size)
    for theme in themes:
        shown = [texts[i] for i in theme.members[:LABEL_TEXTS]]
        words = readable([term for term, _ in theme.top_terms], shown)
        theme.top_terms = [
            (word, weight) for word, (_, weight) in zip(words, theme.top_terms, strict=True)
        ]
    return themes


def over_segment(vectors: Vectors, w: Floats, settings: GroupingSettings) -> Labels:
    """The cell of each point: weighted k-means with many more cells than themes."""
    n = len(vectors)
    k = min(n, settings.max_cells, max(2, int(CELLS_PER_SQRT * math.sqrt(n))))
    if k < 2:
        return np.zeros(n, dtype=np.intp)
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    model = (
        MiniBatchKMeans(k, random_state=settings.seed, n_init=1, batch_size=1024, max_iter=30)
        if n > _MINIBATCH_FROM
        else KMeans(k, random_state=settings.seed, n_init=3)
    )
    with warnings.catch_warnings():
        # Fewer distinct points than cells (repeated texts): fewer cells, as intended.
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = np.asarray(model.fit_predict(vectors, sample_weight=w), dtype=np.intp)
    return np.asarray(np.unique(labels, return_inverse=True)[1], dtype=np.intp)


def term_counts(texts: Sequence[str], w: Floats) -> TermCounts:
    """Weighted word and bigram counts of each text: the tokens the labels show."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=word_ngrams, dtype=np.float64)
    try:
        matrix = vectorizer.fit_transform(texts)
        terms = [str(term) for term in vectorizer.get_feature_names_out()]
    except ValueError:  # nothing but stop words
        matrix, terms = sp.csr_matrix((len(texts), 1)), [""]
    return TermCounts(sp.csr_matrix(sp.diags(w) @ matrix), terms)


def _rows_normalized(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix)


def _membership(labels: Labels, n_groups: int) -> sp.csr_matrix:
    n = len(labels)
    return sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(n_groups, n))


def cell_profiles(cells: Labels, counts: TermCounts, n_cells: int) -> sp.csr_matrix:
    """Each cell's TF-IDF profile (term counts times the corpus-level inverse document
    frequency), L2-normalised: what the cell's texts talk about."""
    weights = np.asarray(counts.matrix.max(axis=1).todense()).ravel()
    present = counts.matrix.copy()
    present.data = np.ones_like(present.data)
    document_frequency = np.asarray(present.multiply(weights[:, None]).sum(axis=0)).ravel()
    idf = np.log((1.0 + weights.sum()) / (1.0 + document_frequency)) + 1.0
    profile = sp.csr_matrix(_membership(cells, n_cells) @ counts.matrix @ sp.diags(idf))
    return _rows_normalized(profile)


def class_tfidf(labels: Labels, counts: TermCounts, n_classes: int) -> sp.csr_matrix:
    """Class-based TF-IDF (BERTopic's): what sets each class apart from the others."""
    per_class = sp.csr_matrix(_membership(labels, n_classes) @ counts.matrix)
    sizes = np.asarray(per_class.sum(axis=1)).ravel()
    term_totals = np.asarray(per_class.sum(axis=0)).ravel()
    idf = np.log1p((sizes.sum() / max(1, n_classes)) / np.maximum(term_totals, 1e-9))
    tf = sp.diags(1.0 / np.maximum(sizes, 1e-9)) @ per_class
    return _rows_normalized(sp.csr_matrix(tf @ sp.diags(idf)))


def merge_cells(cells: Labels, counts: TermCounts, merge_distance: float) -> Labels:
    """The theme of each point: cells joined by average linkage on their TF-IDF profiles."""
    n_cells = int(cells.max()) + 1 if len(cells) else 0
    if n_cells < 2:
        return cells.copy()
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    profiles = cell_profiles(cells, counts, n_cells)
    distance = np.clip(1.0 - np.asarray((profiles @ profiles.T).todense()), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    themes = np.asarray(fcluster(tree, merge_distance, criterion="distance"), dtype=np.intp) - 1
    return np.asarray(themes[cells], dtype=np.intp)


def refine(labels: Labels, vectors: Vectors, w: Floats, rounds: int = REFINE_ROUNDS) -> Labels:
    """Move each point to the theme whose centroid is nearest (a few k-means steps started
    from the merged themes): undoes the odd point a mixed cell dragged into the wrong theme."""
    for _ in range(rounds):
        n_labels = int(labels.max()) + 1
        sums = np.asarray(_membership(labels, n_labels) @ (vectors * w[:, None]))
        similarity = vectors @ normalized(sums).T
        best = np.asarray(similarity.argmax(axis=1), dtype=np.intp)
        rows = np.arange(len(labels))
        gain = similarity[rows, best] - similarity[rows, labels]
        moved = np.where(gain > REFINE_MARGIN, best, labels)
        if np.array_equal(moved, labels):
            break
        labels = np.asarray(np.unique(moved, return_inverse=True)[1], dtype=np.intp)
    return labels


def describe(
    labels: Labels, vectors: Vectors, w: Floats, counts: TermCounts, min_size: float
) -> list[Theme]:
    """Themes weighing at least ``min_size``, heaviest first, with centroids and terms."""
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, weights=w, minlength=n_labels)
    kept = [int(label) for label in np.argsort(-sizes, kind="stable") if sizes[label] >= min_size]
    distinctive = class_tfidf(labels, counts, n_labels)
    words = counts.words_only()
    profiles = cell_profiles(labels, words, n_labels)
    themes: list[Theme] = []
    for label in kept:
        theme = _theme(np.flatnonzero(labels == label), vectors, w, float(sizes[label]))
        theme.top_terms = top_terms(distinctive.getrow(label), counts.terms)
        theme.profile = _profile(profiles.getrow(label), words.terms)
        themes.append(theme)
    return themes


def _theme(members: NDArray[np.intp], vectors: Vectors, w: Floats, weight: float) -> Theme:
    mean = np.average(vectors[members], axis=0, weights=w[members])
    centroid = normalized(mean[None, :])[0]
    distances = np.clip(1.0 - vectors[members] @ centroid, 0.0, 2.0).astype(np.float64)
    return Theme(members.tolist(), centroid, distances, weight=weight)


def _profile(row: sp.csr_matrix, words: list[str]) -> dict[str, float]:
    top = np.argsort(-row.data, kind="stable")[:PROFILE_TERMS]
    return {words[row.indices[i]]: round(float(row.data[i]), 4) for i in top}


def top_terms(
    row: sp.csr_matrix, terms: list[str], limit: int = TOP_TERMS
) -> list[tuple[str, float]]:
    """The row's heaviest terms, skipping a word already inside a chosen bigram (and the
    reverse), so "medical leave" does not also list "medical" and "leave"."""
    picked: list[tuple[str, float]] = []
    seen: set[str] = set()
    for index in np.argsort(-row.data, kind="stable"):
        term = terms[row.indices[index]]
        parts = set(term.split(" "))
        if not term or parts & seen:
            continue
        seen |= parts
        picked.append((term, round(float(row.data[index]), 4)))
        if len(picked) == limit:
            break
    return picked
