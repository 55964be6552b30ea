#!/usr/bin/env python3
"""What the evaluation pipeline costs on top of the work it wraps, as ratios measured in one run.

    .venv/bin/python benchmarks/evals_pipeline.py [--items 2000] [--inputs 10000] [--rounds 3]

- ``runner``: ``runner.execute`` of a matrix (2 prompts x 1 provider x ``--items`` items, one
  deterministic assertion each, results stored in DuckDB) against the same provider calls
  and ``evaluate()`` gradings made directly in a loop with nothing stored; the provider
  answers at once, so the ratio is all pipeline (rendering, scheduling, storing, summarising).
- ``holdout``: assigning near-duplicate groups (normalisation + rapidfuzz) and splits to
  ``--inputs`` distinct inputs against hashing each input alone (no grouping):
  ``seconds`` is the absolute cost of the grouping a dataset build pays once.

Prints one JSON line and writes ``benchmarks/results/<date>-evals-pipeline.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.add_repo_root()

# reports pulls in statsmodels/scipy: imported here so no round pays the import.
from promptloop.evals import holdout, reports, runner  # noqa: E402, F401
from promptloop.evals.assertions import evaluate  # noqa: E402
from promptloop.evals.runner import EvalCase, PromptUnderTest, RunPlan  # noqa: E402
from promptloop.evals.types import (  # noqa: E402
    AssertionSpec,
    EvalContext,
    ProviderRequest,
    ProviderResponse,
)
from promptloop.store import open_store  # noqa: E402

ASSERTION = {"type": "not-icontains", "value": "great question"}


class Instant:
    id = "instant"
    label = "instant"

    async def call(self, request: ProviderRequest) -> ProviderResponse:
        return ProviderResponse(output="Open the note and choose Share.", latency_ms=0.0)


def _cases(items: int) -> list[EvalCase]:
    return [EvalCase(f"i{n}", {"user_input": f"question {n}"}, [ASSERTION]) for n in range(items)]


PROMPTS = [
    PromptUnderTest(label="a", template="System A."),
    PromptUnderTest(label="b", template="Answer {{user_input}} briefly."),
]


async def _direct(items: int) -> float:
    provider, spec = Instant(), [AssertionSpec.from_dict(ASSERTION)]
    started = time.perf_counter()
    for prompt in PROMPTS:
        for case in _cases(items):
            rendered = runner.build_prompt(prompt.template, case.vars)
            response = await provider.call(ProviderRequest(rendered, case.vars))
            await evaluate(spec, EvalContext(response.output, case.vars, str(rendered)))
    return time.perf_counter() - started


def _pipeline(items: int, root: Path, index: int) -> float:
    store = open_store(f"duckdb:///{root}/bench-{index}.duckdb")
    store.migrate()
    plan = RunPlan(prompts=PROMPTS, providers=[Instant()], cases=_cases(items))
    started = time.perf_counter()
    runner.run(store, plan)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def runner_case(items: int, rounds: int) -> dict[str, Any]:
    ours, direct = [], []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(rounds):
            direct.append(asyncio.run(_direct(items)))
            ours.append(_pipeline(items, Path(folder), index))
            C.log(f"runner round {index + 1}: direct {direct[-1]:.2f} s, ours {ours[-1]:.2f} s")
    cells = 2 * items
    ours_ms = 1000 * statistics.median(ours) / cells
    direct_ms = 1000 * statistics.median(direct) / cells
    return {
        "runner": {
            "cells": cells,
            "ours_ms_per_cell": C.round_or_none(ours_ms),
            "direct_ms_per_cell": C.round_or_none(direct_ms),
            "ratio": C.ratio(ours_ms, direct_ms),
        }
    }


def _inputs(count: int) -> list[str]:
    """Distinct questions of 6-10 words from a 400-word vocabulary (seeded), every tenth one
    repeated with different case and punctuation: the near-duplicates grouping must catch."""
    rng = random.Random(0)
    vocabulary = [f"w{n}{chr(97 + n % 26)}" for n in range(400)]
    texts: list[str] = []
    for n in range(count):
        if n % 10 == 9:
            texts.append(texts[-1].upper() + "?!")
        else:
            texts.append(" ".join(rng.choices(vocabulary, k=rng.randint(6, 10))))
    return texts


def holdout_case(count: int, rounds: int) -> dict[str, Any]:
    texts = _inputs(count)
    grouped, hashed = [], []
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"duckdb:///{folder}/h.duckdb")
        store.migrate()
        for index in range(rounds):
            started = time.perf_counter()
            groups = holdout.assign_groups(store, f"bench-{index}", texts)
            [holdout.split_of("bench", group, 0.2) for group in groups]
            grouped.append(time.perf_counter() - started)
            started = time.perf_counter()
            [holdout.split_of("bench", holdout.normalise(text), 0.2) for text in texts]
            hashed.append(time.perf_counter() - started)
            C.log(
                f"holdout round {index + 1}: grouped {grouped[-1]:.2f} s, hashed {hashed[-1]:.3f} s"
            )
        store.close()
    return {
        "holdout": {
            "inputs": count,
            "groups": len(set(groups)),
            "seconds": C.round_or_none(statistics.median(grouped)),
            "hash_only_seconds": C.round_or_none(statistics.median(hashed)),
            "ratio": C.ratio(statistics.median(grouped), statistics.median(hashed)),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--inputs", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "evals-pipeline"}
    result.update(runner_case(args.items, args.rounds))
    result.update(holdout_case(args.inputs, args.rounds))
    C.emit(result)
    C.write_result("evals-pipeline", result)


if __name__ == "__main__":
    main()
