"""Embeddings for the ``similar`` assertion.

The default, :class:`HashingEmbedder`, works offline and needs no fitting: word unigrams and
bigrams plus character 3-5-grams inside words, hashed into a fixed space with scikit-learn's
``HashingVectorizer`` and L2-normalised. Vectors are comparable across calls (nothing is
learnt from a corpus), so it suits grading one output at a time; it measures shared wording,
not meaning. For meaning, pass an embedder backed by a model: anything with
``embed(texts) -> vectors`` (sync or async), or one of the failure-clustering embedders of
:mod:`promptloop.analytics.embeddings` (``fit``/``transform``), e.g. ``openai`` or
``sentence-transformers`` through :func:`from_analytics`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]


@runtime_checkable
class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Any:
        """One vector per text (a sequence of floats or a 2-D array); may be async."""
        ...


class HashingEmbedder:
    """Offline, stateless word and character n-gram vectors."""

    name = "hashing"

    def __init__(self, n_features: int = 2**18) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self._words = HashingVectorizer(
            n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm="l2"
        )
        self._chars = HashingVectorizer(
            n_features=n_features,
            analyzer="char_wb",
            ngram_range=(3, 5),
            alternate_sign=False,
            norm="l2",
        )

    def embed(self, texts: Sequence[str]) -> Vectors:
        from scipy.sparse import hstack

        matrix = hstack([self._words.transform(texts), self._chars.transform(texts)]).toarray()
        return _normalised(np.asarray(matrix, dtype=np.float32))


class _AnalyticsAdapter:
    """A failure-clustering embedder (``fit``/``transform``) used as a text embedder."""

    def __init__(self, embedder: Any) -> None:
        self.inner = embedder
        self.name = getattr(embedder, "name", type(embedder).__name__)

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.inner.fit(list(texts))
        return np.asarray(self.inner.transform(list(texts)), dtype=np.float32)


def from_analytics(name: str, **options: Any) -> TextEmbedder:
    """A named embedder from :mod:`promptloop.analytics.embeddings` (e.g. ``"openai"``)."""
    from promptloop.analytics.embeddings import get_embedder

    return _AnalyticsAdapter(get_embedder(name, **options))


_DEFAULT: HashingEmbedder | None = None


def default_embedder() -> HashingEmbedder:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = HashingEmbedder()
    return _DEFAULT


async def embed(embedder: Any, texts: Sequence[str]) -> Vectors:
    """Vectors from any supported embedder, awaiting it when it is async."""
    if embedder is None:
        embedder = default_embedder()
    if hasattr(embedder, "embed"):
        result = embedder.embed(list(texts))
    elif hasattr(embedder, "fit") and hasattr(embedder, "transform"):
        result = _AnalyticsAdapter(embedder).embed(texts)
    elif callable(embedder):
        result = embedder(list(texts))
    else:
        raise ValueError("embedder: expected an object with embed(texts) or fit/transform")
    if inspect.isawaitable(result):
        result = await result
    return np.asarray(result, dtype=np.float32)


def _normalised(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out = np.zeros_like(matrix)
    np.divide(matrix, norms, out=out, where=norms > 0)
    return out


def cosine(first: Sequence[float] | NDArray[Any], second: Sequence[float] | NDArray[Any]) -> float:
    """Cosine similarity (0 when either vector is all zeros)."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / denominator if denominator else 0.0
