#!/usr/bin/env python3
"""OTLP ingest throughput: spans/s from an OpenTelemetry exporter to a queryable store,
ours next to Arize Phoenix's server, in one run on the same machine.

    .venv/bin/python benchmarks/otlp.py [--spans 5000] [--batch 512] [--no-phoenix]

Both sides get the very same spans: the peers' ``build_spans(K)`` (phoenix_server_bench.py:
K finished LLM spans, one trace each, OpenInference attributes from ``workload.record(i)``),
sent in batches of --batch through ``OTLPSpanExporter.export()`` (protobuf, encoding in the
timed loop, as the peers' default ``--client exporter``).

Ours: the real collector (a subprocess on 127.0.0.1; WAL with fsync, DuckDB, flush every
0.5 s) -> accept = every export answered; e2e = ``GET /v1/stats`` counts K interactions
(polled every 0.1 s). Then every stored interaction is checked against its record (model,
tokens, session, user, prompt version, input, output). Server CPU is utime+stime of the
collector process tree; RSS is sampled every 0.1 s.

Phoenix: its own script (``--spans K``, few annotations and queries, no restart), run with
the system python in its own venv. Prints one JSON line; writes
benchmarks/results/<date>-otlp.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

W, P = C.import_peers()
C.add_repo_root()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spans", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--timeout", type=float, default=900, help="seconds for our ingest phase")
    ap.add_argument("--no-phoenix", dest="phoenix", action="store_false", default=True)
    ap.add_argument("--no-write", dest="write", action="store_false", default=True)
    return ap.parse_args(argv)


def peer_spans(k: int) -> list[Any]:
    """The peers' own span builder, so both servers ingest identical spans."""
    path = C.peers_dir() / "phoenix_server_bench.py"
    spec = importlib.util.spec_from_file_location("phoenix_server_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    spans: list[Any] = module.build_spans(k)
    return spans


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(P.tree_rss_bytes(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        s = sorted(self.samples) or [0]
        return {"peak_mb": round(s[-1] / 2**20, 1), "median_mb": round(P.pct(s, 0.5) / 2**20, 1)}


def stored_count(client: Any) -> int:
    return int(client.get("/v1/stats").json()["store"]["interactions"])


def check_fields(client: Any, spans: list[Any]) -> dict[str, Any]:
    """Every stored interaction against the record its span was built from."""
    from promptloop.core.records import interaction_id_for_span

    mismatches: list[str] = []
    for i, span in enumerate(spans):
        ctx = span.get_span_context()
        ident = interaction_id_for_span(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
        found = client.get(f"/v1/interactions/{ident}")
        if found.status_code != 200:
            mismatches.append(f"{i}: missing")
            continue
        row, rec = found.json(), W.record(i)
        expected = {
            "model": rec["model"],
            "input_tokens": rec["prompt_tokens"],
            "output_tokens": rec["completion_tokens"],
            "session_id": rec["session_id"],
            "user_id": rec["user_id"],
            "prompt_version": rec["prompt_template_version"],
            "user_input": rec["prompt"],
            "raw_output": rec["completion"],
        }
        wrong = [key for key, value in expected.items() if row.get(key) != value]
        if wrong:
            mismatches.append(f"{i}: {wrong}")
    return {"checked": len(spans), "mismatches": len(mismatches), "first": mismatches[:5]}


def run_ours(spans: list[Any], a: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult
    from tests.support.collector import collector_process

    k = len(spans)
    batches = [spans[i : i + a.batch] for i in range(0, k, a.batch)]
    res: dict[str, Any] = {"spans": k, "batch": a.batch, "requests": len(batches)}
    tmp = Path(tempfile.mkdtemp(prefix="promptloop-otlp-bench-"))
    t_start = time.monotonic()
    with collector_process(f"duckdb:///{tmp}/store.duckdb", tmp / "data") as col:
        res["startup_seconds"] = round(time.monotonic() - t_start, 3)
        pid = col.process.pid
        client = httpx.Client(base_url=col.url, timeout=60)
        res["server_rss_idle_mb"] = round(P.tree_rss_bytes(pid) / 2**20, 1)
        exporter = OTLPSpanExporter(endpoint=f"{col.url}/v1/traces", timeout=60)
        sampler = RssSampler(pid)
        cpu0 = P.tree_cpu_seconds(pid)
        sampler.start()
        retries = 0
        t0 = time.monotonic()
        deadline = t0 + a.timeout
        for batch in batches:
            while exporter.export(batch) != SpanExportResult.SUCCESS:  # 503: back off
                retries += 1
                if time.monotonic() > deadline:
                    raise RuntimeError("ingest timed out while resending")
                time.sleep(0.2)
        t_sent = time.monotonic()
        polls = 0
        seen = stored_count(client)
        while seen < k and time.monotonic() < deadline:
            time.sleep(0.1)
            polls += 1
            seen = stored_count(client)
        t_done = time.monotonic()
        cpu = P.tree_cpu_seconds(pid) - cpu0
        res.update(
            resend_after_reject=retries,
            send_seconds=round(t_sent - t0, 3),
            accept_spans_per_s=round(k / (t_sent - t0), 1),
            e2e_seconds=round(t_done - t0, 3),
            e2e_spans_per_s=round(k / (t_done - t0), 1),
            interactions_stored=seen,
            count_polls=polls,
            server_cpu_seconds=round(cpu, 2),
            server_cpu_ms_per_span=round(cpu * 1000 / k, 3),
            server_rss_during_ingest=sampler.stop(),
        )
        exporter.shutdown()
        C.log(f"ours: {res['e2e_spans_per_s']} spans/s end to end; checking fields")
        res["fields"] = check_fields(client, spans)
        client.close()
    if seen < k:
        res["error"] = f"ingest incomplete: {seen}/{k}"
    return res


def run_phoenix(k: int, a: argparse.Namespace) -> dict[str, Any]:
    args = [
        "--spans",
        str(k),
        "--batch",
        str(a.batch),
        "--annotations",
        "200",
        "--queries",
        "2",
        "--no-restart",
    ]
    return C.run_peer("phoenix_server_bench.py", args, timeout=max(900.0, k / 10.0 + 300))


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, cwd=C.REPO, check=False
    ).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    result: dict[str, Any] = {
        "bench": "otlp",
        "args": vars(a),
        "commit": git("rev-parse", "HEAD"),
        "loadavg_start": list(os.getloadavg()),
    }
    C.log(f"building {a.spans} spans with the peers' builder")
    spans = peer_spans(a.spans)
    result["ours"] = run_ours(spans, a)
    if a.phoenix:
        C.log("phoenix: running the peers' server bench with the same spans")
        phoenix = run_phoenix(a.spans, a)
        ingest = phoenix.get("ingest", {})
        result["phoenix"] = {
            "e2e_spans_per_s": ingest.get("e2e_spans_per_s"),
            "accept_spans_per_s": ingest.get("accept_spans_per_s"),
            "server_cpu_ms_per_span": ingest.get("server_cpu_ms_per_span"),
            "server_rss_peak_mb": (ingest.get("server_rss_during_ingest") or {}).get("peak_mb"),
            "startup_cold_seconds": phoenix.get("startup_cold_seconds"),
            "version": (phoenix.get("versions") or {}).get("arize-phoenix"),
            **({"error": phoenix["error"]} if "error" in phoenix else {}),
        }
        ours = result["ours"]
        result["ratios"] = {
            "e2e_ours_over_phoenix": C.ratio(
                ours.get("e2e_spans_per_s"), result["phoenix"]["e2e_spans_per_s"]
            ),
            "accept_ours_over_phoenix": C.ratio(
                ours.get("accept_spans_per_s"), result["phoenix"]["accept_spans_per_s"]
            ),
            "cpu_per_span_phoenix_over_ours": C.ratio(
                result["phoenix"]["server_cpu_ms_per_span"], ours.get("server_cpu_ms_per_span")
            ),
        }
    result["loadavg_end"] = list(os.getloadavg())
    if a.write:
        C.log(f"wrote {C.write_result('otlp', result)}")
    C.emit(result)


if __name__ == "__main__":
    main()
