#!/usr/bin/env python3
"""What the evaluation engine costs on top of the work it wraps, as ratios measured in one run.

    .venv/bin/python benchmarks/evals_engine.py [--calls 300] [--outputs 2000] [--rounds 3]

- ``provider``: ``openai:chat`` through ``load_provider`` (concurrency limit, retry loop,
  accounting) against the bare ``AsyncOpenAI`` client, both calling the scripted server of
  ``tests/support/fake_llm.py`` on 127.0.0.1 with 8 requests in flight; rounds alternate.
  ``ratio`` = ours / bare per call (1.0 = no overhead).
- ``cache``: the same calls answered from the on-disk cache, against the server round trip
  (``ratio`` = hit / miss).
- ``assertions``: ``evaluate()`` of 12 deterministic promptfoo assertions per output, against
  the same checks written by hand in Python (``ratio`` = ours / hand-written).

Prints one JSON line and writes ``benchmarks/results/<date>-evals-engine.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.add_repo_root()

import openai  # noqa: E402
from tests.support.fake_llm import FakeLLM  # noqa: E402

from promptloop.evals.assertions import evaluate  # noqa: E402
from promptloop.evals.providers import load_provider  # noqa: E402
from promptloop.evals.types import AssertionSpec, EvalContext, ProviderRequest  # noqa: E402

IN_FLIGHT = 8


async def _bare(url: str, calls: int) -> float:
    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with limit:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def _ours(url: str, calls: int, cache_dir: Path | None, prefix: str) -> float:
    provider = load_provider(
        {
            "id": "openai:chat:gpt-4o-mini",
            "config": {"apiBaseUrl": url, "apiKey": "bench", "concurrency": IN_FLIGHT},
        },
        cache_dir=cache_dir,
    )
    started = time.perf_counter()
    responses = await asyncio.gather(
        *(provider.call(ProviderRequest(prompt=f"{prefix}{i}")) for i in range(calls))
    )
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in responses)
    await provider.aclose()  # type: ignore[attr-defined]
    return elapsed


def provider_case(calls: int, rounds: int) -> dict[str, Any]:
    bare: list[float] = []
    ours: list[float] = []
    hits: list[float] = []
    misses: list[float] = []
    with FakeLLM() as fake, tempfile.TemporaryDirectory() as cache:
        asyncio.run(_bare(fake.openai_url, 20))  # warm imports and the server
        for index in range(rounds):
            bare.append(asyncio.run(_bare(fake.openai_url, calls)) / calls * 1000)
            ours.append(asyncio.run(_ours(fake.openai_url, calls, None, "q")) / calls * 1000)
            prefix = f"r{index}-"
            misses.append(
                asyncio.run(_ours(fake.openai_url, calls, Path(cache), prefix)) / calls * 1000
            )
            hits.append(
                asyncio.run(_ours(fake.openai_url, calls, Path(cache), prefix)) / calls * 1000
            )
            C.log(f"provider round {index + 1}: bare {bare[-1]:.2f} ms, ours {ours[-1]:.2f} ms")
    bare_ms, ours_ms = statistics.median(bare), statistics.median(ours)
    hit_ms, miss_ms = statistics.median(hits), statistics.median(misses)
    return {
        "provider": {
            "calls": calls,
            "in_flight": IN_FLIGHT,
            "bare_ms_per_call": round(bare_ms, 3),
            "ours_ms_per_call": round(ours_ms, 3),
            "ratio": C.ratio(ours_ms, bare_ms),
        },
        "cache": {
            "miss_ms_per_call": round(miss_ms, 3),
            "hit_ms_per_call": round(hit_ms, 3),
            "ratio": C.ratio(hit_ms, miss_ms, 3),
        },
    }


SPECS = [
    {"type": "contains", "value": "Paris"},
    {"type": "not-icontains", "value": "sorry"},
    {"type": "contains-any", "value": ["Paris", "Lyon"]},
    {"type": "contains-all", "value": ["capital", "France"]},
    {"type": "starts-with", "value": "The"},
    {"type": "regex", "value": r"Paris\.$"},
    {"type": "word-count", "value": {"min": 3, "max": 40}},
    {"type": "levenshtein", "value": "The capital of France is Paris.", "threshold": 10},
    {"type": "rouge-n", "value": "The capital of France is Paris."},
    {"type": "not-is-json"},
    {"type": "equals", "value": "The capital of France is Paris."},
    {"type": "latency", "threshold": 1000},
]


def _by_hand(output: str, latency: float) -> bool:
    import re

    from rapidfuzz.distance import Levenshtein

    words = output.split()
    reference = "The capital of France is Paris."
    reference_words = reference.split()
    overlap = sum(1 for word in reference_words if word in words) / len(reference_words)
    try:
        import json

        json.loads(output)
        is_json = True
    except ValueError:
        is_json = False
    checks = [
        "Paris" in output,
        "sorry" not in output.lower(),
        any(v in output for v in ("Paris", "Lyon")),
        all(v in output for v in ("capital", "France")),
        output.startswith("The"),
        re.search(r"Paris\.$", output) is not None,
        3 <= len(words) <= 40,
        Levenshtein.distance(output, reference) <= 10,
        overlap >= 0.75,
        not is_json,
        output == reference,
        latency <= 1000,
    ]
    return all(checks)


def assertions_case(outputs: int, rounds: int) -> dict[str, Any]:
    specs = [AssertionSpec.from_dict(spec) for spec in SPECS]
    texts = [f"The capital of France is Paris{'.' if i % 3 else ' city.'}" for i in range(outputs)]

    async def ours() -> float:
        started = time.perf_counter()
        for text in texts:
            await evaluate(specs, EvalContext(output=text, vars={}, prompt="q", latency_ms=5))
        return time.perf_counter() - started

    def hand() -> float:
        started = time.perf_counter()
        for text in texts:
            _by_hand(text, 5)
        return time.perf_counter() - started

    ours_s = statistics.median(asyncio.run(ours()) for _ in range(rounds))
    hand_s = statistics.median(hand() for _ in range(rounds))
    return {
        "assertions": {
            "outputs": outputs,
            "assertions_per_output": len(specs),
            "ours_us_per_assertion": round(ours_s / (outputs * len(specs)) * 1e6, 2),
            "outputs_per_s": round(outputs / ours_s),
            "hand_us_per_assertion": round(hand_s / (outputs * len(specs)) * 1e6, 2),
            "ratio": C.ratio(ours_s, hand_s),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--outputs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "evals-engine"}
    result.update(provider_case(args.calls, args.rounds))
    result.update(assertions_case(args.outputs, args.rounds))
    C.emit(result)
    C.write_result("evals-engine", result)


if __name__ == "__main__":
    main()
