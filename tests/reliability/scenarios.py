"""Fault scenarios shared by the reliability tests and ``benchmarks/reliability.py``.

Each scenario drives real parts: a collector subprocess on 127.0.0.1, real HTTP clients, a
real store. They return plain figures; the tests assert on them, the benchmark reports them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.collector import CollectorProcess, collector_process

PAGE = 1000


def subprocess_store_url(store_url: str, tmp_path: Path) -> str:
    """A store URL a collector subprocess may open.

    chdb allows one data directory per process, and the test process may already hold the
    suite's chdb directory: a collector subprocess gets a directory of its own.
    """
    if store_url.startswith("chdb://"):
        return f"chdb://{tmp_path / 'chdb-collector'}"
    return store_url


@dataclass
class LoadResult:
    """What the clients saw: IDs whose request got a 2xx, and IDs sent without an answer."""

    acked_interactions: set[str] = field(default_factory=set)
    acked_feedback: int = 0
    attempted_interactions: int = 0
    attempted_feedback: int = 0
    requests: int = 0
    errors: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def wait_until_acked(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` interactions were acknowledged (or timeout)."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.acked_interactions) >= count, timeout)


def _batch(size: int, client: int, sequence: int) -> tuple[list[dict[str, Any]], list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(size)]
    rows = [
        {
            "interactionId": ident,
            "sessionId": f"crash-{client}",
            "promptVersion": f"v{sequence % 3}",
            "userInput": f"question {sequence}.{n} from client {client}",
            "rawOutput": "an answer",
            "latencyMs": 12.5,
        }
        for n, ident in enumerate(ids)
    ]
    return rows, ids


def ingest_until_stopped(
    url: str,
    result: LoadResult,
    stop: threading.Event,
    *,
    client: int,
    batch: int = 50,
    max_requests: int = 100_000,
) -> None:
    """One client at full speed: an interactions batch, then feedback on it, until ``stop``
    is set or the collector stops answering (a connection error ends the client)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        for sequence in range(max_requests):
            if stop.is_set():
                return
            rows, ids = _batch(batch, client, sequence)
            events = [{"interactionId": ident, "feedbackType": "copy"} for ident in ids]
            with result.lock:
                result.attempted_interactions += len(ids)
            try:
                answer = http.post("/v1/interactions", json=rows)
            except httpx.HTTPError:
                with result.lock:
                    result.errors += 1
                return
            with result.lock:
                result.requests += 1
                if answer.status_code == 200:
                    result.acked_interactions.update(ids)
                    result.lock.notify_all()
                result.attempted_feedback += len(events)
            try:
                answer = http.post("/v1/feedback", json=events)
            except httpx.HTTPError:
                with result.lock:
                    result.errors += 1
                return
            with result.lock:
                result.requests += 1
                if answer.status_code == 200:
                    result.acked_feedback += len(events)


@contextlib.contextmanager
def running_clients(
    url: str, result: LoadResult, clients: int, *, batch: int = 50
) -> Iterator[threading.Event]:
    """Start ``clients`` load threads; stop and join them when the block ends."""
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=ingest_until_stopped,
            args=(url, result, stop),
            kwargs={"client": n, "batch": batch},
            daemon=True,
        )
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def stored_interaction_ids(http: Any) -> list[str]:
    """Every interaction ID in the store, through the query API (keyset pages)."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100_000):
        params: dict[str, Any] = {"limit": PAGE}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/v1/interactions", params=params)
        page.raise_for_status()
        body = page.json()
        ids.extend(item["interaction_id"] for item in body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return ids


def stored_ids_after_stop(store_url: str) -> list[str]:
    """Every interaction ID, read from the store itself once the collector has stopped
    (a graceful stop flushes its buffer)."""
    from promptloop.store import open_store

    store = open_store(store_url)
    try:
        rows = store.fetch_all("SELECT interaction_id FROM llm_interaction_logs")
    finally:
        store.close()
    return [row["interaction_id"] for row in rows]


@contextlib.contextmanager
def restarted(store_url: str, data_dir: Path, *, in_process: bool) -> Iterator[Any]:
    """The collector started again on ``data_dir``: an HTTP client to it."""
    if not in_process:
        with (
            collector_process(store_url, data_dir, flush_interval=0.2) as collector,
            httpx.Client(base_url=collector.url, timeout=60) as http,
        ):
            yield http
        return
    from fastapi.testclient import TestClient

    from promptloop.server.app import create_app
    from promptloop.server.settings import Settings

    settings = Settings(store_url=store_url, data_dir=data_dir, api_keys=frozenset())
    with TestClient(create_app(settings)) as client:
        yield client


@dataclass
class CrashFigures:
    kills: int
    acknowledged: int
    attempted: int
    stored: int
    stored_distinct: int
    acknowledged_missing: int
    duplicates: int
    feedback_acknowledged: int
    feedback_stored: int
    feedback_attempted: int

    @property
    def holds(self) -> bool:
        return (
            self.acknowledged_missing == 0
            and self.duplicates == 0
            and self.feedback_acknowledged <= self.feedback_stored <= self.feedback_attempted
            and self.stored <= self.attempted
        )

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "holds": self.holds}


def kill_under_load(
    store_url: str,
    data_dir: Path,
    *,
    kills: int = 1,
    clients: int = 3,
    acked_before_kill: int = 1500,
    batch: int = 50,
    restart_in_process: bool = False,
) -> CrashFigures:
    """Clients ingest at full speed; the collector is SIGKILLed once ``acked_before_kill``
    more interactions were acknowledged; restarted on the same data directory; ``kills``
    times. Then every acknowledged interaction must be stored, and each exactly once.

    ``restart_in_process``: the last restart runs the same app in this process (its start-up
    recovery is the code under test; it saves a subprocess start in the fast tests)."""
    result = LoadResult()
    for _ in range(kills):
        with collector_process(store_url, data_dir, flush_interval=0.2) as collector:
            target = len(result.acked_interactions) + acked_before_kill
            with running_clients(collector.url, result, clients, batch=batch):
                reached = result.wait_until_acked(target, timeout=300)
                collector.kill()  # while the clients are still posting
            if not reached:
                raise RuntimeError("the clients made no progress before the kill")
    with restarted(store_url, data_dir, in_process=restart_in_process) as http:
        stats = http.get("/v1/stats").json()  # flushes what recovery replayed
        ids = stored_interaction_ids(http)
    distinct = set(ids)
    return CrashFigures(
        kills=kills,
        acknowledged=len(result.acked_interactions),
        attempted=result.attempted_interactions,
        stored=len(ids),
        stored_distinct=len(distinct),
        acknowledged_missing=len(result.acked_interactions - distinct),
        duplicates=len(ids) - len(distinct),
        feedback_acknowledged=result.acked_feedback,
        feedback_stored=int(stats["store"]["feedback_events"]),
        feedback_attempted=result.attempted_feedback,
    )


# ---------------------------------------------------------------- tuned collector, overload

_SERVE_TUNED = """
import json, sys, uvicorn
from pathlib import Path
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
options = json.loads(sys.argv[3])
settings = Settings(store_url=sys.argv[1], data_dir=Path(sys.argv[2]), api_keys=frozenset(),
                    **options)
uvicorn.run(create_app(settings), host="127.0.0.1", port=0, log_level="info",
            access_log=False)
"""
_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def tuned_collector(store_url: str, data_dir: Path, **options: Any) -> Iterator[CollectorProcess]:
    """A collector subprocess with the given ``Settings`` fields (bounds, intervals)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE_TUNED, store_url, str(data_dir), json.dumps(options)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    collector: CollectorProcess | None = None
    try:
        assert process.stderr is not None
        log: list[str] = []
        for line in process.stderr:  # ends when the process exits
            log.append(line)
            match = _READY.search(line)
            if match:
                collector = CollectorProcess(process, int(match.group(1)))
                break
        if collector is None:
            raise RuntimeError("collector did not start:\n" + "".join(log))
        drain = threading.Thread(target=log.extend, args=(process.stderr,), daemon=True)
        drain.start()
        yield collector
    finally:
        if collector is not None:
            collector.stop()
        elif process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds until stopped: (t, MB) pairs."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            with contextlib.suppress(OSError):
                self.samples.append((round(time.monotonic() - self._t0, 2), rss_mb(self.pid)))
            self._halt.wait(self.interval)

    def stop(self) -> list[tuple[float, float]]:
        self._halt.set()
        self.join(10)
        return self.samples


OVERLOAD_SETTINGS: dict[str, Any] = {
    "max_pending_rows": 20_000,
    "max_pending_bytes": 16 * 1024 * 1024,
    "max_concurrent_ingest": 4,
    "flush_rows": 5_000,
    "flush_interval": 0.5,
}


def overload_collector(
    store_url: str, data_dir: Path, *, clients: int = 16, batches: int = 20, batch: int = 500
) -> dict[str, Any]:
    """``clients`` threads push ``batches`` batches each as fast as they can: more than the
    collector can take. Each refused batch is retried after its Retry-After (as the SDK
    does). Returns the answers seen, what was acknowledged vs stored, and the collector's
    memory over time next to its bound."""
    answers: dict[str, int] = {}
    acked: set[str] = set()
    retry_after_seen: list[int] = []
    lock = threading.Lock()

    def client(number: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for sequence in range(batches):
                rows, ids = _batch(batch, number, sequence)
                body = json.dumps(rows).encode()
                for _ in range(1000):  # bounded retries per batch
                    reply = http.post(
                        "/v1/interactions",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    )
                    with lock:
                        answers[str(reply.status_code)] = answers.get(str(reply.status_code), 0) + 1
                    if reply.status_code == 200:
                        with lock:
                            acked.update(ids)
                        break
                    if reply.status_code not in (429, 503):
                        raise RuntimeError(f"unexpected answer {reply.status_code}")
                    wait = int(reply.headers["Retry-After"])
                    with lock:
                        retry_after_seen.append(wait)
                    # Honour it, shortened: a test cannot wait whole seconds per refusal.
                    threading.Event().wait(min(wait, 1) * 0.2)

    with tuned_collector(store_url, data_dir, **OVERLOAD_SETTINGS) as collector:
        with httpx.Client(base_url=collector.url, timeout=60) as http:
            http.get("/v1/stats")
        idle = rss_mb(collector.process.pid)
        sampler = RssSampler(collector.process.pid)
        sampler.start()
        started = time.monotonic()
        threads = [
            threading.Thread(target=client, args=(n, collector.url), daemon=True)
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=900)
        elapsed = time.monotonic() - started
        samples = sampler.stop()
    stored = set(stored_ids_after_stop(store_url))
    peak = max((mb for _, mb in samples), default=idle)
    # The documented bound: idle + the buffer's byte bound x3 (parsed records weigh about
    # three times their JSON) + the in-flight request bodies x3 + 256 MB for the store
    # engine's own caches while it inserts.
    body_mb = batch * 300 / 2**20
    bound = (
        idle
        + 3 * OVERLOAD_SETTINGS["max_pending_bytes"] / 2**20
        + 3 * OVERLOAD_SETTINGS["max_concurrent_ingest"] * body_mb
        + 256
    )
    return {
        "clients": clients,
        "events_offered": clients * batches * batch,
        "seconds": round(elapsed, 2),
        "answers": answers,
        "retry_after_max": max(retry_after_seen, default=0),
        "acknowledged": len(acked),
        "stored": len(stored),
        "acknowledged_missing": len(acked - stored),
        "idle_rss_mb": round(idle, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_bound_mb": round(bound, 1),
        "rss_over_time": samples[:: max(1, len(samples) // 60)],
        "settings": OVERLOAD_SETTINGS,
    }


# ---------------------------------------------------------------- outage


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def outage_figures(
    tmp_path: Path, *, minutes: int = 60, calls_per_second: int = 10
) -> dict[str, Any]:
    """``minutes`` simulated minutes of traffic against a collector that is down (the
    sender runs once per simulated minute), then it comes back. Host-side figures: calls
    that raised, the added latency of a tracked call (interleaved with the bare call), the
    process's RSS per minute; then what arrived, exactly once or not."""
    import promptloop
    from tests.support.recording_collector import RecordingCollector

    def bare(question: str) -> str:
        return question[::-1]

    traced = promptloop.track(feature="outage", prompt_version="v1")(bare)
    exceptions = 0
    added_ns: list[float] = []
    rss_per_minute: list[float] = []
    spool_peak = 0
    ids: list[str] = []
    spool = tmp_path / "outage-spool"
    perf = time.perf_counter_ns
    with RecordingCollector() as collector:
        client = promptloop.init(
            collector.url,
            hash_key="k",
            strict=False,
            flush_interval=3600.0,
            spool_dir=spool,
            max_attempts=2,
            retry_backoff=0.001,
            # Time is compressed: the cool-down (wall-clock) would outlast the simulated
            # outage. Without it every sender round probes the collector: the worst case.
            retry_cooldown=0.0,
        )
        collector.down()
        started = time.monotonic()
        for minute in range(minutes):
            for second in range(60):
                for n in range(calls_per_second):
                    question = f"{minute}:{second}:{n}"
                    try:
                        with promptloop.context(session_id=f"s{second % 7}", user_id=f"u{n}"):
                            t0 = perf()
                            bare(question)
                            t1 = perf()
                            traced(question)
                            t2 = perf()
                        added_ns.append((t2 - t1) - (t1 - t0))
                        ids.append(promptloop.last_interaction_id() or "")
                    except Exception:
                        exceptions += 1
            client.flush(timeout=120)  # the sender's round for this minute
            rss_per_minute.append(round(rss_mb(os.getpid()), 1))
            spool_peak = max(spool_peak, sum(p.stat().st_size for p in spool.rglob("*.jsonl")))
        outage_seconds = time.monotonic() - started
        stats_down = dict(client.stats())
        collector.up()
        # The sender replays at most 100 spool files a round (live traffic goes first): let
        # it run rounds until the spool is empty, as it would on its own schedule.
        for _ in range(1000):
            client.flush(timeout=300)
            if not any(spool.rglob("*.jsonl")):
                break
        arrived = Counter(record["interaction_id"] for record in collector.interactions())
        stats = dict(client.stats())
        promptloop.shutdown(timeout=30)
    return {
        "simulated_minutes": minutes,
        "calls": len(ids),
        "wall_seconds": round(outage_seconds, 1),
        "exceptions_in_host": exceptions,
        "added_us_during_outage": {
            "p50": round(_percentile(added_ns, 0.5) / 1000, 2),
            "p99": round(_percentile(added_ns, 0.99) / 1000, 2),
        },
        "rss_mb_per_minute": rss_per_minute,
        "spool_peak_bytes": spool_peak,
        "spooled": stats_down["spooled"],
        "arrived": len(arrived),
        "lost": len(set(ids) - set(arrived)),
        "duplicates": sum(count - 1 for count in arrived.values()),
        "spool_evicted": stats["spool_evicted"],
        "dropped": stats["dropped"],
        "replayed": stats["replayed"],
    }


# ---------------------------------------------------------------- soak

SOAK_QUERIES = (
    "/",
    "/v1/queries/version-summary",
    "/v1/queries/negative-inputs?days=7",
    "/v1/interactions?limit=50",
)


def _summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(_percentile(values, 0.5) * 1000, 1),
        "p95": round(_percentile(values, 0.95) * 1000, 1),
        "p99": round(_percentile(values, 0.99) * 1000, 1),
        "max": round(max(values, default=0.0) * 1000, 1),
    }


def soak(
    store_url: str,
    data_dir: Path,
    *,
    seconds: float = 120.0,
    ingest_clients: int = 2,
    batch: int = 200,
    query_clients: int = 1,
) -> dict[str, Any]:
    """Sustained ingest (``ingest_clients`` at full speed) plus dashboard and query-API
    reads for ``seconds``, against a collector with its production settings. Throughput,
    latency percentiles, answers, and the collector's RSS over time."""
    acked: set[str] = set()
    ingest_latency: list[float] = []
    query_latency: dict[str, list[float]] = {path: [] for path in SOAK_QUERIES}
    answers: Counter[str] = Counter()
    lock = threading.Lock()
    halt = threading.Event()

    def ingest(number: int, url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for sequence in range(10**7):
                if halt.is_set():
                    return
                rows, ids = _batch(batch, number, sequence)
                t0 = time.perf_counter()
                reply = http.post("/v1/interactions", json=rows)
                elapsed = time.perf_counter() - t0
                with lock:
                    answers[f"ingest {reply.status_code}"] += 1
                    ingest_latency.append(elapsed)
                    if reply.status_code == 200:
                        acked.update(ids)
                if reply.status_code in (429, 503):
                    halt.wait(min(float(reply.headers.get("Retry-After", "1")), 1.0))

    def query(url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for round_number in range(10**7):
                if halt.is_set():
                    return
                path = SOAK_QUERIES[round_number % len(SOAK_QUERIES)]
                t0 = time.perf_counter()
                reply = http.get(path)
                elapsed = time.perf_counter() - t0
                with lock:
                    answers[f"query {reply.status_code}"] += 1
                    query_latency[path].append(elapsed)

    with tuned_collector(store_url, data_dir) as collector:
        idle = rss_mb(collector.process.pid)
        sampler = RssSampler(collector.process.pid, interval=1.0)
        sampler.start()
        threads = [
            threading.Thread(target=ingest, args=(n, collector.url), daemon=True)
            for n in range(ingest_clients)
        ] + [
            threading.Thread(target=query, args=(collector.url,), daemon=True)
            for _ in range(query_clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        halt.wait(seconds)
        halt.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.monotonic() - started
        samples = sampler.stop()
    stored = set(stored_ids_after_stop(store_url))
    return {
        "seconds": round(elapsed, 1),
        "ingest_clients": ingest_clients,
        "query_clients": query_clients,
        "batch": batch,
        "events_acknowledged": len(acked),
        "events_per_s": round(len(acked) / elapsed, 1),
        "acknowledged_missing": len(acked - stored),
        "stored": len(stored),
        "ingest_latency_ms": _summary_ms(ingest_latency),
        "query_latency_ms": {path: _summary_ms(values) for path, values in query_latency.items()},
        "answers": dict(answers),
        "idle_rss_mb": round(idle, 1),
        "peak_rss_mb": round(max((mb for _, mb in samples), default=idle), 1),
        "rss_mb_over_time": samples[:: max(1, len(samples) // 120)],
    }
