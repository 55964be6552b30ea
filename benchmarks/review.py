#!/usr/bin/env python3
"""How fast reviewing is: the next item on screen, and items labelled per minute.

    .venv/bin/python benchmarks/review.py [--interactions 20000] [--items 40] [--rounds 30]

On a DuckDB store holding the simulated demo (its queue filled by the rules), served by the
real collector on 127.0.0.1:

- ``api``: the dashboard's ``POST /review/api/next`` (claim the next item and load it with
  its session and feedback) and ``POST /review/api/items/{id}/label``, timed from Python
  over HTTP: what moving on would cost without the prefetch;
- ``browser``: a reviewer in headless Chromium labels ``--items`` items with keys only (as
  ``tests/browser/test_review.py`` does). ``next_item_ms`` is the time from the key press
  that saves a label to the next item on screen, measured in the page; with the prefetch it
  renders from memory. ``items_per_minute`` is the keyboard-only rate the UI allows (a
  script presses the keys: a person's reading time is not in it).

Target: the next item on screen in under 100 ms (p95). Prints one JSON line and writes
``benchmarks/results/<date>-review.json``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.add_repo_root()

TARGET_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def build(root: Path, interactions: int) -> tuple[Any, Any]:
    from promptloop.demo.simulate import load_demo
    from promptloop.review import queue
    from promptloop.review.config import ReviewSettings
    from promptloop.store import open_store

    store = open_store(f"duckdb:///{root}/review.duckdb")
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    C.log(f"loading {interactions} simulated interactions")
    load_demo(store, interactions=interactions, end=end)
    settings = ReviewSettings.model_validate(
        {
            "double_label_share": 0.0,
            "max_per_rule": 5000,
            "rules": {"random_sample": {"rate": 0.05}},
        }
    )
    found = queue.enqueue(store, settings, days=30, now=end)
    C.log(f"queued {found['added']} items: {found['added_by_rule']}")
    return store, settings


def api_round_trips(base: str, rounds: int) -> dict[str, Any]:
    import httpx

    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/review")
        found = re.search(r'data-csrf="([^"]+)"', page.text)
        assert found, "no CSRF token on /review"
        headers = {"x-csrf-token": found.group(1)}
        claims, labels = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            view = client.post("/review/api/next", json={"reviewer": "bench"}, headers=headers)
            claims.append(1000 * (time.perf_counter() - started))
            item_id = view.json()["item"]["item_id"]
            started = time.perf_counter()
            client.post(
                f"/review/api/items/{item_id}/label",
                json={"reviewer": "bench", "verdict": "bad", "category": "wrong"},
                headers=headers,
            ).raise_for_status()
            labels.append(1000 * (time.perf_counter() - started))
    return {"next_ms": summary(claims), "label_ms": summary(labels)}


def browser_flow(base: str, items: int) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright
    from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_context().new_page()
            review = page.locator("#review")
            page.goto(base + "/review")
            page.keyboard.type("kim")
            page.keyboard.press("Enter")
            expect(review).to_have_attribute("data-state", "item", timeout=30_000)
            started = time.perf_counter()
            for k in range(items):
                expect(review).to_have_attribute("data-prefetched", "true", timeout=30_000)
                current = review.get_attribute("data-item") or ""
                page.keyboard.press("b" if k % 3 else "g")
                if k % 3:
                    page.keyboard.press("1")
                page.keyboard.press("Enter")
                expect(review).not_to_have_attribute("data-item", current, timeout=30_000)
            expect(review).to_have_attribute("data-labelled", str(items), timeout=30_000)
            elapsed = time.perf_counter() - started
            stats = page.evaluate("window.reviewStats")
        finally:
            browser.close()
    return {
        "items": items,
        "seconds": round(elapsed, 2),
        "items_per_minute": round(items / elapsed * 60, 1),
        "next_item_ms": summary(stats["loadsMs"]),
        "prefetch_hits": stats["prefetchHits"],
        "prefetch_misses": stats["prefetchMisses"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interactions", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument(
        "--no-write", action="store_true", help="only print (benchmarks/run.py writes the file)"
    )
    args = ap.parse_args(argv)

    from tests.ui.conftest import LiveServer, make_app

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store, settings = build(root, args.interactions)
        app = make_app(store, root)
        app.state.review_settings = settings
        server = LiveServer(app)
        server.start()
        try:
            C.log("timing the review API")
            api = api_round_trips(server.url, args.rounds)
            C.log("labelling in Chromium with the keyboard")
            browser = browser_flow(server.url, args.items)
        finally:
            server.stop()
            store.close()
    result = {
        "bench": "review",
        "store": "duckdb",
        "interactions": args.interactions,
        "api": api,
        "browser": browser,
        "target_next_item_ms": TARGET_MS,
        "next_item_within_target": browser["next_item_ms"]["p95"] < TARGET_MS,
        "api_next_within_target": api["next_ms"]["p95"] < TARGET_MS,
        "prefetch_speedup_p50": C.ratio(api["next_ms"]["p50"], browser["next_item_ms"]["p50"]),
    }
    if not args.no_write:
        C.log(f"wrote {C.write_result('review', result)}")
    C.emit(result)
    return result


if __name__ == "__main__":
    main()
