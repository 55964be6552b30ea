#!/usr/bin/env python3
"""Collector ingest throughput: the real collector (a subprocess on 127.0.0.1) on DuckDB and
on PostgreSQL, fed the peers' workload over HTTP.

    .venv/bin/python benchmarks/ingest.py [--backends duckdb,postgres] [--interactions 100000]
                                          [--feedback 100000] [--batch 500] [--clients 4]

Phases, per backend (each bounded by --timeout):
  1. start the collector with production settings (WAL with fsync, flush every 0.5 s or
     5000 rows) on a fresh store; PostgreSQL is a throwaway server (tests/support/pgserver.py)
  2. K interactions built from ``workload.record(i)`` (prompt -> user_input, template ->
     system_prompt, completion -> raw_output, tokens, session, user, prompt version, model;
     uuid5 IDs) in JSON arrays of --batch, POSTed to /v1/interactions by --clients threads
     (httpx, keep-alive; bodies pre-encoded before the clock starts, like the peers'
     ``--client raw``); a 503 (backpressure) is retried after 0.2 s and counted.
     accept = every POST answered; e2e = ``GET /v1/stats`` counts all K (polled every 0.1 s)
  3. the same for K feedback events from ``workload.feedback(i)`` (thumbs_down with
     category "wrong" for negatives, thumbs_up otherwise) to /v1/feedback
  4. server CPU (utime+stime of the collector's process tree, and of PostgreSQL's), RSS
     sampled every 0.1 s, disk growth per 10k events (DuckDB: the data dir after the
     collector stopped, checkpointed; PostgreSQL: ``pg_database_size``)

Prints one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    ap.add_argument("--backends", default="duckdb,postgres")
    ap.add_argument("--interactions", type=int, default=100_000)
    ap.add_argument("--feedback", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per phase")
    return ap.parse_args(argv)


# ---------------------------------------------------------------- load


def build_bodies(kind: str, k: int, batch: int) -> list[tuple[bytes, int]]:
    import orjson

    base = datetime.now(UTC) - timedelta(days=1)
    bodies: list[tuple[bytes, int]] = []
    for start in range(0, k, batch):
        rows = []
        for i in range(start, min(k, start + batch)):
            stamp = (base + timedelta(milliseconds=i)).isoformat()
            if kind == "interactions":
                rows.append(C.interaction_from_record(W.record(i), stamp))
            else:
                later = (base + timedelta(milliseconds=i, seconds=30)).isoformat()
                rows.append(C.feedback_from_event(W.feedback(i), later))
        bodies.append((orjson.dumps(rows), len(rows)))
    return bodies


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int], interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.samples: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(sum(P.tree_rss_bytes(pid) for pid in self.pids))
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join()
        s = sorted(self.samples) or [0]
        return {
            "peak_mb": round(s[-1] / 2**20, 1),
            "median_mb": round(P.pct(s, 0.5) / 2**20, 1),
            "samples": len(s),
        }


@dataclass
class SendStats:
    requests: int = 0
    rejected_503: int = 0
    errors: list[str] = field(default_factory=list)
    accepted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_all(
    url: str, path: str, bodies: list[tuple[bytes, int]], clients: int, deadline: float
) -> SendStats:
    import httpx

    work: queue.SimpleQueue[tuple[bytes, int]] = queue.SimpleQueue()
    for item in bodies:
        work.put(item)
    stats = SendStats()
    headers = {"Content-Type": "application/json"}

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
            while True:
                try:
                    body, _count = work.get_nowait()
                except queue.Empty:
                    return
                while True:
                    try:
                        response = http.post(path, content=body)
                    except httpx.HTTPError as exc:
                        with stats.lock:
                            stats.errors.append(repr(exc)[:200])
                        return
                    with stats.lock:
                        stats.requests += 1
                    if response.status_code == 503 and time.monotonic() < deadline:
                        with stats.lock:
                            stats.rejected_503 += 1
                        time.sleep(0.2)
                        continue
                    if response.status_code != 200:
                        with stats.lock:
                            stats.errors.append(f"{response.status_code}: {response.text[:200]}")
                        return
                    with stats.lock:
                        stats.accepted += int(response.json()["accepted"])
                    break

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic()))
    return stats


def store_counts(url: str) -> dict[str, Any]:
    import httpx

    response = httpx.get(url + "/v1/stats", timeout=120)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def phase(
    url: str,
    kind: str,
    bodies: list[tuple[bytes, int]],
    a: argparse.Namespace,
    collector_pid: int,
    db_pid: int | None,
    expected_total: int,
) -> dict[str, Any]:
    path = "/v1/interactions" if kind == "interactions" else "/v1/feedback"
    count_key = "interactions" if kind == "interactions" else "feedback_events"
    k = sum(n for _, n in bodies)
    sampler = RssSampler([collector_pid])
    # PostgreSQL's processes share their buffers: the sum of their RSS counts that memory
    # once per process, so it is an upper bound, reported apart from the collector's.
    db_sampler = RssSampler([db_pid]) if db_pid else None
    cpu0 = P.tree_cpu_seconds(collector_pid)
    db_cpu0 = P.tree_cpu_seconds(db_pid) if db_pid else 0.0
    sampler.start()
    if db_sampler:
        db_sampler.start()
    t0 = time.monotonic()
    deadline = t0 + a.timeout
    sent = send_all(url, path, bodies, a.clients, deadline)
    t_sent = time.monotonic()
    polls, seen = 0, 0
    while True:
        seen = int(store_counts(url)["store"][count_key])
        polls += 1
        if seen >= expected_total or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    t_done = time.monotonic()
    cpu = P.tree_cpu_seconds(collector_pid) - cpu0
    db_cpu = (P.tree_cpu_seconds(db_pid) - db_cpu0) if db_pid else None
    rss = sampler.stop()
    db_rss = db_sampler.stop() if db_sampler else None
    out: dict[str, Any] = {
        "events": k,
        "batch": a.batch,
        "clients": a.clients,
        "requests": sent.requests,
        "resend_after_503": sent.rejected_503,
        "errors": sent.errors[:5],
        "accepted": sent.accepted,
        "send_seconds": round(t_sent - t0, 3),
        "accept_per_s": round(k / (t_sent - t0), 1),
        "e2e_seconds": round(t_done - t0, 3),
        "e2e_per_s": round(k / (t_done - t0), 1),
        "visible_after_send_s": round(t_done - t_sent, 3),
        "visible": seen - (expected_total - k),
        "count_polls": polls,
        "server_cpu_seconds": round(cpu, 2),
        "server_cpu_ms_per_event": round(cpu * 1000 / k, 4),
        "server_rss_during_ingest": rss,
    }
    if db_cpu is not None:
        out["db_cpu_seconds"] = round(db_cpu, 2)
        out["db_cpu_ms_per_event"] = round(db_cpu * 1000 / k, 4)
        out["total_cpu_ms_per_event"] = round((cpu + db_cpu) * 1000 / k, 4)
        out["db_rss_sum_during_ingest"] = db_rss
    if seen < expected_total or sent.errors:
        out["error"] = f"incomplete: {out['visible']}/{k} visible; errors={sent.errors[:2]}"
    return out


# ---------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    store_url: str
    data_dir: Path
    db_pid: int | None = None
    disk: Any = None  # () -> bytes used by the store


@contextlib.contextmanager
def backend(name: str, tmp: Path) -> Iterator[Backend]:
    if name == "duckdb":
        data = tmp / "data"
        data.mkdir()
        store = data / "store.duckdb"
        b = Backend(name, f"duckdb:///{store}", data)
        b.disk = lambda: P.dir_bytes(str(data))
        yield b
        return
    if name == "postgres":
        from tests.support.pgserver import create_database, postgres_server

        with postgres_server() as server:
            url = create_database(server, "promptloop_bench")

            def disk() -> int:
                import psycopg

                with psycopg.connect(url) as conn:
                    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
                    return int(row[0]) if row else 0

            data = tmp / "data"
            data.mkdir()
            yield Backend(name, url, data, db_pid=server.pid, disk=disk)
        return
    raise SystemExit(f"unknown backend {name!r}")


def run_backend(
    name: str, a: argparse.Namespace, bodies: dict[str, list[tuple[bytes, int]]]
) -> dict[str, Any]:
    from tests.support.collector import collector_process

    res: dict[str, Any] = {"backend": name}
    tmp = Path(tempfile.mkdtemp(prefix=f"promptloop-ingest-{name}-"))
    try:
        with backend(name, tmp) as b:
            t0 = time.monotonic()
            with collector_process(b.store_url, b.data_dir) as col:
                res["startup_seconds"] = round(time.monotonic() - t0, 3)
                pid = col.process.pid
                time.sleep(1.0)
                res["server_rss_idle_mb"] = round(P.tree_rss_bytes(pid) / 2**20, 1)
                if b.db_pid:
                    res["db_rss_idle_mb"] = round(P.tree_rss_bytes(b.db_pid) / 2**20, 1)
                disk0 = b.disk()
                k_i = sum(n for _, n in bodies["interactions"])
                k_f = sum(n for _, n in bodies["feedback"])
                C.log(f"{name}: POST {k_i} interactions ({a.clients} clients, batch {a.batch})")
                res["interactions"] = phase(
                    col.url, "interactions", bodies["interactions"], a, pid, b.db_pid, k_i
                )
                disk_after_interactions = b.disk()
                C.log(
                    f"{name}: interactions e2e {res['interactions']['e2e_per_s']:.0f}/s; "
                    f"POST {k_f} feedback events"
                )
                res["feedback"] = phase(
                    col.url, "feedback", bodies["feedback"], a, pid, b.db_pid, k_f
                )
                C.log(f"{name}: feedback e2e {res['feedback']['e2e_per_s']:.0f}/s")
                time.sleep(0.5)
                res["server_rss_after_ingest_mb"] = round(P.tree_rss_bytes(pid) / 2**20, 1)
                disk_running = b.disk()
                res["ingest_counters"] = store_counts(col.url)["ingest"]
            res["disk_empty_bytes"] = disk0
            disk_stopped = b.disk()
            events = k_i + k_f
            res["disk"] = {
                "running_bytes": disk_running,
                "stopped_bytes": disk_stopped,
                "per_10k_events_mb": round((disk_stopped - disk0) / events * 10000 / 2**20, 2),
                "per_10k_events_mb_running": round(
                    (disk_running - disk0) / events * 10000 / 2**20, 2
                ),
                # while running, after the interactions phase (DuckDB: its WAL included)
                "per_10k_interactions_mb": round(
                    (disk_after_interactions - disk0) / k_i * 10000 / 2**20, 2
                ),
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    it, fb = res["interactions"], res["feedback"]
    total_s = it["e2e_seconds"] + fb["e2e_seconds"]
    cpu = it["server_cpu_seconds"] + fb["server_cpu_seconds"]
    res["events"] = it["events"] + fb["events"]
    res["e2e_events_per_s"] = round(res["events"] / total_s, 1)
    res["accept_events_per_s"] = round(res["events"] / (it["send_seconds"] + fb["send_seconds"]), 1)
    res["server_cpu_ms_per_event"] = round(cpu * 1000 / res["events"], 4)
    res["server_rss_peak_mb"] = max(
        it["server_rss_during_ingest"]["peak_mb"], fb["server_rss_during_ingest"]["peak_mb"]
    )
    if "db_cpu_seconds" in it:
        db = it["db_cpu_seconds"] + fb["db_cpu_seconds"]
        res["db_cpu_ms_per_event"] = round(db * 1000 / res["events"], 4)
        res["db_rss_sum_peak_mb"] = max(
            it["db_rss_sum_during_ingest"]["peak_mb"], fb["db_rss_sum_during_ingest"]["peak_mb"]
        )
    errors = [p["error"] for p in (it, fb) if "error" in p]
    if errors:
        res["error"] = "; ".join(errors)
    return res


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    t0 = time.monotonic()
    C.log(f"encoding {a.interactions} interactions + {a.feedback} feedback events")
    bodies = {
        "interactions": build_bodies("interactions", a.interactions, a.batch),
        "feedback": build_bodies("feedback", a.feedback, a.batch),
    }
    result: dict[str, Any] = {
        "bench": "ingest",
        "args": vars(a),
        "client_build_seconds": round(time.monotonic() - t0, 2),
        "body_bytes": {k: sum(len(b) for b, _ in v) for k, v in bodies.items()},
        "backends": {},
    }
    for name in [b.strip() for b in a.backends.split(",") if b.strip()]:
        try:
            result["backends"][name] = run_backend(name, a, bodies)
        except Exception as exc:  # report, and go on with the next backend
            C.log(f"{name}: failed: {exc!r}")
            result["backends"][name] = {"backend": name, "error": repr(exc)[:1000]}
    result["machine"] = P.machine_info()
    C.emit(result)


if __name__ == "__main__":
    main()
