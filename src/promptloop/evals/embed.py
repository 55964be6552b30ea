"""Embeddings for the ``similar`` assertion.

The default, :class:`HashingEmbedder`, works offline and needs no fitting: word unigrams and
bigrams plus character 3-5-grams inside words, hashed (CRC-32) into 65,536 dimensions and
L2-normalised. Vectors are comparable across calls (nothing is
learnt from a corpus), so it suits grading one output at a time; it measures shared wording,
not meaning. For meaning, pass an embedder backed by a model: anything with
``embed(texts) -> vectors`` (sync or async), or one of the failure-clustering embedders of
:mod:`promptloop.analytics.embeddings` (``fit``/``transform``), e.g. ``openai`` or
``sentence-transformers`` through :func:`from_analytics`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import re
import zlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Vectors = NDArray[np.float32]
_WORD = re.compile(r"\w+")


@runtime_checkable
class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Any:
        """One vector per text (a sequence of floats or a 2-D array); may be async."""
        ...


class HashingEmbedder:
    """Offline, stateless word and character n-gram vectors (the hashing trick, CRC-32)."""

    name = "hashing"

    def __init__(self, dimensions: int = 2**16) -> None:
        self.dimensions = dimensions

    def features(self, text: str) -> list[str]:
        """Word unigrams and bigrams, and character 3-5-grams of each padded word."""
        words = _WORD.findall(text.lower())
        found = [f"w:{word}" for word in words]
        found += [f"b:{first} {second}" for first, second in itertools.pairwise(words)]
        for word in words:
            padded = f" {word} "
            for size in (3, 4, 5):
                found += [f"c:{padded[i : i + size]}" for i in range(len(padded) - size + 1)]
        return found

    def embed(self, texts: Sequence[str]) -> Vectors:
        matrix = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self.features(text):
                matrix[row, zlib.crc32(feature.encode("utf-8")) % self.dimensions] += 1.0
        return _normalised(matrix)


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
    if hasattr(embedder, "fit") and hasattr(embedder, "transform"):
        embedder = _AnalyticsAdapter(embedder)
    function = getattr(embedder, "embed", None)
    if function is None and callable(embedder):
        function = embedder
    if function is None:
        raise ValueError("embedder: expected an object with embed(texts) or fit/transform")
    if isinstance(embedder, HashingEmbedder) or inspect.iscoroutinefunction(function):
        result = function(list(texts))
    else:
        # A model-backed embedder may block on the network: keep the event loop free.
        result = await asyncio.to_thread(function, list(texts))
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
