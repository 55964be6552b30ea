#!/usr/bin/env python3
"""Per-call overhead of the promptloop SDK around a trivial stand-in "LLM call".

    .venv/bin/python benchmarks/sdk_overhead.py --mode rich [--n 20000] [--max-queue 32768]
    .venv/bin/python benchmarks/sdk_overhead.py --mode disabled

The same method as the peers' ``sdk_overhead.py`` (``../shared/bench/peers``), on the same
records (``workload.record(i)``) and the same fake call (``workload.fake_llm``):

- N calls after a warm-up, each timed with ``perf_counter_ns``; the bare call
  ``fake_llm(prompt)`` is timed before and after the traced loop and the faster pass is used;
  ``added_us`` = traced - bare for mean, p50 and p99;
- flush and shutdown are timed separately, and ``added_us_mean_incl_flush`` spreads them over
  every call;
- ``interactions_stored`` is what reached the collector's store (``GET /v1/stats``).
- then N more calls with bare and traced calls alternating, each timed
  (``interleaved_added_us``): on a shared, busy machine both sides see the same load.

Modes:
- ``rich``: ``@promptloop.track(feature=..., prompt_version=..., system_prompt=...)`` (one
  decorated function per prompt version, as an app would have), called inside
  ``promptloop.context(session_id=..., user_id=...)`` (the SDK hashes the user ID), setting
  model, token counts and the temperature (metadata) on the active call, as the provider
  wrappers do: the fields of the peers' rich mode. Exports to a real collector (a subprocess,
  DuckDB in a temp dir) on 127.0.0.1.
- ``disabled``: ``promptloop.init(enabled=False)``: the same code runs, nothing is sent.

Prints one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

W, P = C.import_peers()
C.add_repo_root()

Traced = Callable[[str, dict[str, Any]], Any]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mode", choices=["rich", "disabled"], default="rich")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument(
        "--max-queue",
        type=int,
        default=32768,
        help="SDK queue bound (init(max_queue=...)); the SDK default is 10000. 32768 matches "
        "the peers' --bsp-queue 32768 cases: a tight loop drops nothing, the full cost shows",
    )
    return ap.parse_args(argv)


def _active_call() -> Callable[[], Any]:
    """How the decorated function reaches its call object to set model and token counts.

    A public accessor when the SDK has one; else the context variable the provider
    wrappers use to enrich the active call (there is no other way to set token counts
    from inside a decorated function)."""
    import promptloop

    for name in ("current_call", "active_call"):
        fn = getattr(promptloop, name, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    from promptloop.sdk.context import ACTIVE_CALL

    return ACTIVE_CALL.get


def setup(a: argparse.Namespace, url: str | None, spool: Path) -> tuple[Traced, dict[str, Any]]:
    """Initialise the SDK; the traced call and a description of the setup."""
    import promptloop

    if a.mode == "disabled":
        promptloop.init(enabled=False, hash_key="peerbench")
    else:
        promptloop.init(
            url=url,
            api_key=None,
            hash_key="peerbench",
            max_queue=a.max_queue,
            spool_dir=str(spool),
        )
    context = promptloop.context
    current = _active_call()
    fake_llm = W.fake_llm

    def make(version: str) -> Callable[[str, dict[str, Any]], str]:
        @promptloop.track(
            feature=C.FEATURE, prompt_version=version, system_prompt=W.PROMPT_TEMPLATE
        )
        def answer(prompt: str, rec: dict[str, Any]) -> str:
            out: str = fake_llm(prompt)
            call = current()
            # what the provider wrappers (wrap_openai / wrap_anthropic) do with a response
            call.model = rec["model"]
            call.add_usage(rec["prompt_tokens"], rec["completion_tokens"])
            call.metadata["temperature"] = rec["temperature"]
            return out

        return answer

    by_version = {W.prompt_version(i): make(W.prompt_version(i)) for i in range(3)}

    def traced(prompt: str, rec: dict[str, Any]) -> str:
        with context(session_id=rec["session_id"], user_id=rec["user_id"]):
            return by_version[rec["prompt_template_version"]](prompt, rec)

    info = {
        "api": "promptloop (public API)",
        "export": (
            "init(enabled=False): decorator and context run, nothing recorded"
            if a.mode == "disabled"
            else "JSON over HTTP/1.1 (httpx, keep-alive) -> promptloop collector on 127.0.0.1 "
            "(uvicorn, WAL + DuckDB in a temp dir)"
        ),
        "max_queue": None if a.mode == "disabled" else a.max_queue,
        "batch_size": 500,
    }
    return traced, info


def time_loop(
    fn: Traced, prompts: list[str], recs: list[dict[str, Any]], n: int
) -> tuple[list[int], float]:
    pc = time.perf_counter_ns
    out = [0] * n
    t_start = pc()
    for i in range(n):
        p = prompts[i]
        r = recs[i]
        t0 = pc()
        fn(p, r)
        out[i] = pc() - t0
    return out, (pc() - t_start) / 1e9


def time_interleaved(
    bare: Traced, fn: Traced, prompts: list[str], recs: list[dict[str, Any]], n: int
) -> tuple[list[int], list[int]]:
    """Bare and traced calls alternating, each timed: both see the same machine state.

    On a shared machine the sequential passes above can land in quieter or busier moments;
    here a burst of load hits both sides alike, so traced - bare is the SDK's own cost."""
    pc = time.perf_counter_ns
    out_bare = [0] * n
    out_traced = [0] * n
    for i in range(n):
        p = prompts[i]
        r = recs[i]
        t0 = pc()
        bare(p, r)
        t1 = pc()
        fn(p, r)
        t2 = pc()
        out_bare[i] = t1 - t0
        out_traced[i] = t2 - t1
    return out_bare, out_traced


def stored_interactions(
    url: str, expected: int, timeout: float = 30.0
) -> tuple[int, dict[str, Any]]:
    """Interactions in the collector's store (``/v1/stats`` flushes its buffer first)."""
    import httpx

    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    with httpx.Client(timeout=30) as http:
        while True:
            stats = http.get(url + "/v1/stats").json()
            count = int(stats["store"]["interactions"])
            if count >= expected or time.monotonic() > deadline:
                return count, stats
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    import promptloop
    from promptloop.sdk.client import current_client

    a = parse(argv)
    n, warm = a.n, a.warmup
    total = n + warm
    recs = [W.record(i) for i in range(total)]
    prompts = [r["prompt"] for r in recs]

    def bare(prompt: str, rec: dict[str, Any], _f: Callable[[str], str] = W.fake_llm) -> str:
        return _f(prompt)

    result: dict[str, Any] = {
        "bench": "sdk_overhead",
        "sdk": "promptloop",
        "mode": a.mode,
        "n": n,
        "warmup": warm,
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="promptloop-sdkbench-")))
        url: str | None = None
        collector = None
        if a.mode == "rich":
            from tests.support.collector import collector_process

            C.log("starting the collector (DuckDB) on 127.0.0.1")
            t0 = time.perf_counter()
            collector = stack.enter_context(
                collector_process(f"duckdb:///{tmp / 'store.duckdb'}", tmp / "data")
            )
            result["collector_start_seconds"] = round(time.perf_counter() - t0, 3)
            url = collector.url
        t0 = time.perf_counter()
        traced, info = setup(a, url, tmp / "spool")
        result["setup_seconds"] = round(time.perf_counter() - t0, 4)
        result["sdk_info"] = info

        C.log(f"promptloop {a.mode}: warm-up {warm}, then {n} bare / traced / bare calls")
        time_loop(bare, prompts, recs, warm)
        time_loop(traced, prompts, recs, warm)
        gc.collect()

        bare1, _ = time_loop(bare, prompts[warm:], recs[warm:], n)
        traced_ns, traced_wall = time_loop(traced, prompts[warm:], recs[warm:], n)
        bare2, _ = time_loop(bare, prompts[warm:], recs[warm:], n)

        t0 = time.perf_counter()
        promptloop.flush()
        result["flush_seconds"] = round(time.perf_counter() - t0, 4)
        # A second traced pass, interleaved (new interactions: every tracked call gets an ID).
        inter_bare, inter_traced = time_interleaved(bare, traced, prompts[warm:], recs[warm:], n)
        promptloop.flush()
        client_stats = dict(current_client().stats())
        t0 = time.perf_counter()
        promptloop.shutdown()
        result["shutdown_seconds"] = round(time.perf_counter() - t0, 4)
        result["sdk_stats"] = client_stats

        s_b1, s_b2 = P.summary(bare1), P.summary(bare2)
        s_bare = s_b1 if s_b1["mean"] <= s_b2["mean"] else s_b2
        s_other = s_b2 if s_bare is s_b1 else s_b1
        s_tr = P.summary(traced_ns)

        def us(v: float) -> float:
            return round(v / 1000.0, 3)

        result["bare_us"] = {k: us(s_bare[k]) for k in ("mean", "p50", "p99")}
        result["bare_us_other_pass"] = {k: us(s_other[k]) for k in ("mean", "p50", "p99")}
        result["traced_us"] = {k: us(s_tr[k]) for k in ("mean", "p50", "p90", "p99", "max")}
        result["added_us"] = {k: us(s_tr[k] - s_bare[k]) for k in ("mean", "p50", "p99")}
        s_ib, s_it = P.summary(inter_bare), P.summary(inter_traced)
        result["interleaved_added_us"] = {k: us(s_it[k] - s_ib[k]) for k in ("mean", "p50", "p99")}
        result["traced_loop_calls_per_s"] = round(n / traced_wall, 1)
        result["added_us_mean_incl_flush"] = us(
            s_tr["mean"]
            - s_bare["mean"]
            + (result["flush_seconds"] + result["shutdown_seconds"]) * 1e9 / total
        )
        if a.mode == "rich":
            assert url is not None and collector is not None
            result["interactions_created"] = total + n
            # wait for what the SDK delivered (a full queue drops events by design)
            sent = client_stats.get("sent", total + n)
            stored, stats = stored_interactions(url, sent if isinstance(sent, int) else total + n)
            result["interactions_stored"] = stored
            result["interactions_dropped"] = total + n - stored
            result["collector_ingest"] = stats.get("ingest")
        else:
            result["interactions_created"] = 0
    result["machine"] = P.machine_info()
    C.emit(result)


if __name__ == "__main__":
    main()
