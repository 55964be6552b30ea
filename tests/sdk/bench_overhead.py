"""Added latency of ``@promptloop.track`` per call: a quick script, not a test.

    .venv/bin/python -m tests.sdk.bench_overhead [--calls 200000]

Times a trivial function returning a 260-byte string bare and tracked, interleaved call by
call (so both see the same machine state), with an enabled client whose sender thread
really posts batches to a recording collector running in another process. Calls run in
bursts of 1,000 with an untimed ``flush()`` between bursts, so the queue never fills (a
full queue would make the measured path the cheaper drop path). Reports p50/p99/p99.9 of
each and the added time (tracked minus bare) at each percentile.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import promptloop
from tests.support.recording_collector import RecordingCollector

OUTPUT = "x" * 260


def _serve(conn: Connection) -> None:
    collector = RecordingCollector()
    conn.send(collector.url)
    conn.recv()  # wait until told to stop
    conn.send(sum(len(r.records) for r in collector.requests))
    collector.down()


def _percentiles(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0

    return {
        "p50": at(0.50),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "mean": statistics.fmean(ordered) / 1000.0,
    }


def _measure(
    bare: Callable[[str], str], tracked: Callable[[str], str], calls: int
) -> dict[str, dict[str, float]]:
    perf = time.perf_counter_ns
    bare_ns: list[int] = []
    tracked_ns: list[int] = []
    for _ in range(calls // 1000):
        for _ in range(1000):
            t0 = perf()
            bare("What is the capital of France?")
            t1 = perf()
            tracked("What is the capital of France?")
            t2 = perf()
            bare_ns.append(t1 - t0)
            tracked_ns.append(t2 - t1)
        promptloop.flush(timeout=30)
    b, t = _percentiles(bare_ns), _percentiles(tracked_ns)
    return {"bare": b, "tracked": t, "added": {k: round(t[k] - b[k], 3) for k in b}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    url = parent.recv()
    client = promptloop.init(url, spool_dir=tempfile.mkdtemp(), hash_key="bench")

    def bare(prompt: str) -> str:
        return OUTPUT

    @promptloop.track(feature="bench", prompt_name="bench", prompt_version="v1")
    def tracked(prompt: str) -> str:
        return OUTPUT

    # Warm up (imports, ID pool, branch caches), then measure with and without context.
    _measure(bare, tracked, 10_000)
    gc.collect()
    results = {"plain": _measure(bare, tracked, args.calls)}
    with promptloop.context(session_id="s-1", user_id="user-1", metadata={"variant": "A"}):
        results["in_context"] = _measure(bare, tracked, args.calls)
    promptloop.flush(timeout=30)
    results["stats"] = dict(client.stats())  # type: ignore[assignment]
    parent.send("stop")
    results["collector_received"] = parent.recv()
    server.join(10)
    promptloop.shutdown()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
