"""Shared helpers for the promptloop benchmarks (stdlib only at import time).

- where the peer baselines live (``<repo>/../shared/bench/peers``, or ``PEERBENCH_PEERS_DIR``)
  and importing their ``workload`` and ``_peerlib`` without writing bytecode into that folder;
- the one-JSON-line-on-stdout / progress-on-stderr convention the peer scripts use;
- running a peer script with the system ``python3`` and reading its JSON line;
- the records we build from the shared workload, so both sides process the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"

# Deterministic IDs for workload record i, so a re-sent batch is the same records.
_NAMESPACE = uuid.UUID("3f2b8c1e-5d4a-4e0f-9b7c-1a2d3e4f5a6b")
FEATURE = "support_chat"


def peers_dir() -> Path:
    env = os.environ.get("PEERBENCH_PEERS_DIR")
    return Path(env).resolve() if env else (REPO.parent / "shared" / "bench" / "peers").resolve()


def import_peers() -> tuple[ModuleType, ModuleType]:
    """``(workload, _peerlib)`` from the peers folder (read-only: no ``__pycache__`` there)."""
    folder = peers_dir()
    if not (folder / "workload.py").exists():
        raise SystemExit(
            f"peer baselines not found in {folder}: set PEERBENCH_PEERS_DIR to the folder "
            "holding workload.py and _peerlib.py"
        )
    sys.dont_write_bytecode = True
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    import _peerlib
    import workload

    return workload, _peerlib


def add_repo_root() -> None:
    """Make ``tests.support`` (pgserver, collector) importable."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def log(*parts: object) -> None:
    print("[bench]", *parts, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """The one JSON line on stdout."""
    print(json.dumps(result, sort_keys=True, default=str), flush=True)


def today() -> str:
    return time.strftime("%Y-%m-%d")


def write_result(name: str, result: dict[str, Any], date: str | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{date or today()}-{name}.json"
    path.write_text(json.dumps(result, indent=1, sort_keys=True, default=str) + "\n")
    return path


def system_python() -> str:
    """The interpreter for peer scripts: ``PEERBENCH_PYTHON``, else ``python3`` on PATH
    outside our venv (the peer scripts build and re-exec into their own venvs)."""
    env = os.environ.get("PEERBENCH_PYTHON")
    if env:
        return env
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    found = shutil.which("python3", path=path)
    return found or "python3"


def run_json_script(
    argv: list[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a script that prints one JSON line on stdout; stderr is passed through (progress).

    Returns the parsed line, or ``{"error": ...}``; the child is killed by PID on timeout.
    """
    child_env = dict(os.environ)
    child_env["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        child_env.update(env)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=None,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=str(cwd) if cwd else None,
        env=child_env,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        return {"error": f"timeout after {timeout:.0f}s", "argv": argv}
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"no JSON line (rc={proc.returncode})", "argv": argv}
    result: dict[str, Any] = json.loads(lines[-1])
    result.setdefault("_wall_s", round(time.monotonic() - t0, 1))
    if proc.returncode != 0 and "error" not in result:
        result["error"] = f"rc={proc.returncode}"
    return result


def run_peer(script: str, args: list[str], *, timeout: float) -> dict[str, Any]:
    path = peers_dir() / script
    return run_json_script([system_python(), str(path), *args], timeout=timeout, cwd=peers_dir())


# ---------------------------------------------------------------- workload -> our records


def interaction_id(i: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"interaction-{i}"))


def feedback_id(i: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"feedback-{i}"))


def interaction_from_record(rec: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """``workload.record(i)`` as a promptloop interaction (the wire format)."""
    return {
        "interaction_id": interaction_id(rec["i"]),
        "timestamp": timestamp,
        "session_id": rec["session_id"],
        "user_id": rec["user_id"],
        "feature": FEATURE,
        "prompt_version": rec["prompt_template_version"],
        "model": rec["model"],
        "system_prompt": rec["prompt_template"],
        "user_input": rec["prompt"],
        "raw_output": rec["completion"],
        "input_tokens": rec["prompt_tokens"],
        "output_tokens": rec["completion_tokens"],
        "latency_ms": 800.0,
        "metadata": {"temperature": rec["temperature"]},
    }


def feedback_from_event(ev: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """``workload.feedback(i)`` as a promptloop feedback event (the wire format)."""
    negative = ev["label"] == "thumbs_down"
    out: dict[str, Any] = {
        "feedback_id": feedback_id(ev["i"]),
        "interaction_id": interaction_id(ev["i"]),
        "feedback_type": ev["label"],
        "value": ev["score"],
        "comment": ev["explanation"],
        "source": "user",
        "timestamp": timestamp,
        "metadata": {"prompt_template_version": ev["prompt_template_version"]},
    }
    if negative:
        out["category"] = "wrong"
    return out


def round_or_none(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """``numerator / denominator``, or None when either is missing or the divisor is ~0."""
    if numerator is None or denominator is None or abs(denominator) < 1e-12:
        return None
    return round(numerator / denominator, digits)
