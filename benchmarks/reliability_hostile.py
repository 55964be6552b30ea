#!/usr/bin/env python3
"""The long hostile-input run: many hypothesis examples per parser, many schemathesis cases.

    .venv/bin/python benchmarks/reliability_hostile.py [--fuzz-examples 1000]
        [--schemathesis-examples 50] [--timeout 3000]

Runs ``tests/hostile`` (parsers, signal rules, HTTP, tokens, CSV injection, schemathesis over
the OpenAPI spec with its coverage and example phases too) with the example counts raised
(``PROMPTLOOP_FUZZ_EXAMPLES``, ``PROMPTLOOP_SCHEMATHESIS_EXAMPLES``), counts the cases
hypothesis ran from its statistics, and writes ``benchmarks/results/reliability-hostile.json``:
cases run and failures for the fuzzing and for schemathesis, per test. ``make reliability``
calls it through ``benchmarks/reliability.py``. Exit code: pytest's (non-zero on a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUTPUT = RESULTS / "reliability-hostile.json"
# hypothesis --hypothesis-show-statistics: a header per test, then per phase
# "- N passing, M failing, and K invalid test cases".
_TEST = re.compile(r"^(tests/hostile/\S+::\S+(?:\[.*\])?):\s*$")
_COUNTS = re.compile(r"(\d+) passing, (\d+) failing, and (\d+) invalid")
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED)\s+(tests/hostile/.+?)(?: - .*)?$")


def parse_statistics(output: str) -> dict[str, dict[str, int]]:
    """Examples per test (all phases summed) from hypothesis' statistics report."""
    per_test: dict[str, dict[str, int]] = {}
    current: str | None = None
    for line in output.splitlines():
        header = _TEST.match(line.strip())
        if header:
            current = header.group(1)
            entry = per_test.setdefault(
                current, {"passing": 0, "failing": 0, "invalid": 0, "sections": 0}
            )
            # Parametrised tests (one per schemathesis operation) repeat the same header.
            entry["sections"] += 1
            continue
        counts = _COUNTS.search(line)
        if counts and current is not None:
            entry = per_test[current]
            entry["passing"] += int(counts.group(1))
            entry["failing"] += int(counts.group(2))
            entry["invalid"] += int(counts.group(3))
    return per_test


def parse_outcomes(output: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in output.splitlines():
        match = _OUTCOME.match(line.strip())
        if match:
            found[match.group(2)] = match.group(1)
    return found


def summarise(per_test: dict[str, dict[str, int]], outcomes: dict[str, str]) -> dict[str, Any]:
    def group(selected: list[str]) -> dict[str, Any]:
        failed = [t for t in outcomes if t.split("::")[0] in {s.split("::")[0] for s in selected}]
        failed = [t for t in failed if outcomes[t] in ("FAILED", "ERROR")]
        return {
            "tests": len(selected),
            "cases_run": sum(per_test[t]["passing"] + per_test[t]["failing"] for t in selected),
            "failing_cases": sum(per_test[t]["failing"] for t in selected),
            "failed_tests": sorted(failed),
        }

    schemathesis = [t for t in per_test if "test_schemathesis" in t]
    fuzz = [t for t in per_test if "test_schemathesis" not in t]
    schema_failed = sorted(
        t for t, o in outcomes.items() if "test_schemathesis" in t and o in ("FAILED", "ERROR")
    )
    fuzz_summary = group(fuzz)
    fuzz_summary["failed_tests"] = sorted(
        t for t, o in outcomes.items() if "test_schemathesis" not in t and o in ("FAILED", "ERROR")
    )
    return {
        "schemathesis": {
            "operations": sum(per_test[t]["sections"] for t in schemathesis),
            "cases_run": sum(per_test[t]["passing"] + per_test[t]["failing"] for t in schemathesis),
            "failures": len(schema_failed),
            "failed_operations": schema_failed,
        },
        "fuzz": {**fuzz_summary, "failures": len(fuzz_summary["failed_tests"])},
        "other_tests": {
            "run": sum(1 for t in outcomes if t.split("[")[0] not in per_test),
            "failed": sorted(
                t
                for t, o in outcomes.items()
                if t.split("[")[0] not in per_test and o in ("FAILED", "ERROR")
            ),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz-examples", type=int, default=1000)
    parser.add_argument("--schemathesis-examples", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=3000.0)
    args = parser.parse_args()
    env = {
        **os.environ,
        "PROMPTLOOP_FUZZ_EXAMPLES": str(args.fuzz_examples),
        "PROMPTLOOP_SCHEMATHESIS_EXAMPLES": str(args.schemathesis_examples),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/hostile",
        "-p",
        "no:cacheprovider",
        "-m",
        "reliability or not reliability",
        "-rA",
        "-q",
        "--hypothesis-show-statistics",
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout
        )
        output, exit_code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or b""
        output = raw.decode() if isinstance(raw, bytes) else raw
        exit_code = -1
    report = {
        "generated_at": datetime.now(UTC).isoformat(),
        "settings": {
            "fuzz_examples_per_property": args.fuzz_examples,
            "schemathesis_examples_per_operation": args.schemathesis_examples,
            "schemathesis_phases": ["examples", "coverage", "fuzzing"],
        },
        "duration_s": round(time.perf_counter() - started, 1),
        "pytest_exit_code": exit_code,
        **summarise(parse_statistics(output), parse_outcomes(output)),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0 if exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
