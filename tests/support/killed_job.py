"""Run a background job in a real subprocess and SIGKILL it after its N-th write.

The child opens the DuckDB store, wraps the store object's write methods (test code only:
promptloop itself is not told anything) and, right after the N-th write returns, sends
itself SIGKILL: the process dies at once, mid-run, exactly as ``kill -9`` would leave it,
with no chance to clean up. Killing at a write boundary makes the point of death
deterministic; the job's own writes (inserts, transactions) are each atomic in the store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The child: open, wrap, run one job, report how many writes it made (if not killed).
_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys
    from datetime import datetime
    from promptloop.store import open_store

    path, job, kill_after, now = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = open_store(f"duckdb:///{path}")
    writes = 0

    def counted(method):
        def wrapper(*args, **kwargs):
            global writes
            result = method(*args, **kwargs)
            writes += 1
            if writes == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapper

    for name in ("insert_interactions", "insert_feedback", "insert_rows", "execute",
                 "transaction"):
        setattr(store, name, counted(getattr(store, name)))
    at = datetime.fromisoformat(now)
    if job == "signals":
        from promptloop.signals.jobs import run_signals
        run_signals(store, now=at)
    elif job == "clusters":
        from promptloop.analytics.clusters import ClusterSettings, run_clustering
        run_clustering(store, ClusterSettings(now=at))
    else:
        raise SystemExit(f"unknown job {job}")
    store.close()
    print(json.dumps({"writes": writes}))
    """
)


@dataclass(frozen=True)
class JobRun:
    returncode: int
    writes: int | None  # None when killed
    stderr: str


def run_job(path: Path, job: str, now: str, kill_after: int = 0, timeout: float = 120) -> JobRun:
    """Run ``job`` on the store file ``path`` in a subprocess; kill it after ``kill_after``
    writes (0: let it finish)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), job, str(kill_after), now],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
        check=False,
    )
    writes = None
    if done.returncode == 0:
        writes = int(json.loads(done.stdout.strip().splitlines()[-1])["writes"])
    return JobRun(done.returncode, writes, done.stderr[-4000:])


def killed(run: JobRun) -> bool:
    return run.returncode == -signal.SIGKILL
