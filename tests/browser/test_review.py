"""Throughput: a reviewer labels 20 queue items in headless Chromium with the keyboard alone.

Every wait is a Playwright expectation on the page's own state attributes, never a sleep.
The next item is prefetched while the current one is read: the test counts that every one
of the 20 moves was served from the prefetch (no request between the key press and the
next item on screen). Wall-clock figures are printed, not asserted (benchmarks/review.py
records them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.review import queue
from promptloop.review.config import ReviewSettings
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.ui.conftest import LiveServer, make_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ITEMS = 20
QUEUED = 24
SETTINGS = ReviewSettings(double_label_share=0.0)
NOW = datetime.now(UTC).replace(microsecond=0)


def fill(store: Store, n: int) -> list[str]:
    """``n`` answers a user gave a thumbs-down with a category, queued for review."""
    ids = [f"00000000-0000-4000-8000-{k:012d}" for k in range(1, n + 1)]
    store.insert_interactions(
        [
            Interaction(
                interaction_id=ident,
                session_id=f"s{k}",
                feature="support_chat",
                prompt_name="support_assistant",
                prompt_version="2.2.0",
                user_input=f"How do I export notebook {k}?",
                raw_output=f"Open Settings > Export All ({k}).",
                timestamp=NOW - timedelta(minutes=60 - k),
            )
            for k, ident in enumerate(ids, start=1)
        ]
    )
    store.insert_feedback(
        [
            FeedbackEvent(
                interaction_id=ident,
                feedback_type="thumbs_down",
                category="wrong" if k % 2 else "unhelpful",
                source="user",
                timestamp=NOW - timedelta(minutes=59 - k),
            )
            for k, ident in enumerate(ids, start=1)
        ]
    )
    queue.enqueue(store, SETTINGS, rules=["negative_feedback"], now=NOW)
    return ids


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LiveServer, Store]]:
    store = open_store(f"duckdb:///{tmp_path}/review.duckdb")
    fill(store, QUEUED)
    app = make_app(store, tmp_path)
    app.state.review_settings = SETTINGS
    server = LiveServer(app)
    server.start()
    try:
        yield server, store
    finally:
        server.stop()
        store.close()


# What to press on item k: verdict, then the rest of the form.
def keys_for(k: int) -> tuple[list[str], dict[str, Any]]:
    if k % 5 == 0:
        return ["g"], {"verdict": "good"}
    if k % 5 == 1:
        return ["b", "1", "s", "s", "f"], {
            "verdict": "bad",
            "category": "wrong",
            "severity": "medium",
            "fixability": "prompt_fixable",
        }
    if k % 5 == 2:
        return ["u"], {"verdict": "unsure"}
    if k % 5 == 3:
        return ["b", "3", "f", "f"], {
            "verdict": "bad",
            "category": "off_topic",
            "fixability": "model_limitation",
        }
    return ["b"], {"verdict": "bad"}  # the category the user picked stays pre-filled


def test_twenty_items_labelled_with_keys_only(
    browser: Browser, served: tuple[LiveServer, Store]
) -> None:
    from playwright.sync_api import expect

    server, store = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page: Page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    review = page.locator("#review")
    try:
        page.goto(server.url + "/review")
        expect(review).to_have_attribute("data-state", "name")
        page.keyboard.type("kim")
        page.keyboard.press("Enter")
        expect(review).to_have_attribute("data-state", "item")

        expected: dict[str, dict[str, Any]] = {}
        started = time.perf_counter()
        for k in range(ITEMS):
            expect(review).to_have_attribute("data-prefetched", "true")
            item_id = review.get_attribute("data-item")
            assert item_id and item_id not in expected
            keys, label = keys_for(k)
            prefilled = page.locator("#f-category .chosen").get_attribute("data-value")
            assert prefilled in ("wrong", "unhelpful")  # the user's category from the widget
            if label.get("category") == prefilled:  # a number key toggles: pressing it clears
                label["category"] = None
            label.setdefault("category", prefilled)
            for key in keys:
                page.keyboard.press(key)
            if k == 7:  # a corrected answer and a note, typed, then Esc back to the keys
                page.keyboard.press("c")
                page.keyboard.type("Open the notebook, then File > Export > PDF.")
                page.keyboard.press("Escape")
                page.keyboard.press("o")
                page.keyboard.type("menu does not exist")
                page.keyboard.press("Escape")
                label |= {
                    "corrected_answer": "Open the notebook, then File > Export > PDF.",
                    "notes": "menu does not exist",
                }
                if os.environ.get("PROMPTLOOP_SCREENSHOTS") == "1":  # refresh docs/screenshots
                    page.evaluate("window.scrollTo(0, 0)")
                    page.screenshot(path=str(SCREENSHOTS / "review.png"))
            expect(review).to_have_attribute("data-verdict", label["verdict"])
            expected[item_id] = label
            page.keyboard.press("Enter")
            expect(review).not_to_have_attribute("data-item", item_id)
        expect(review).to_have_attribute("data-labelled", str(ITEMS))
        elapsed = time.perf_counter() - started
        stats = page.evaluate("window.reviewStats")
    finally:
        context.close()
    assert not errors, errors

    rows = store.fetch_all("SELECT * FROM review_labels WHERE reviewer = 'kim'")
    assert len(rows) == ITEMS
    for row in rows:
        wanted = expected[row["item_id"]]
        assert queue.get_item(store, row["item_id"])["status"] == "done"
        for field in ("verdict", "category", "severity", "fixability", "corrected_answer", "notes"):
            assert row[field] == wanted.get(field), (field, row)
    annotator = store.fetch_all(
        "SELECT count(DISTINCT interaction_id) AS n FROM feedback_events WHERE source = 'annotator'"
    )
    # Unsure says nothing about quality: no event, unless it carries a corrected answer.
    speaking = [w for w in expected.values() if w["verdict"] != "unsure" or "corrected_answer" in w]
    assert annotator[0]["n"] == len(speaking)

    # Every move to the next item rendered from the prefetch: no request in between.
    assert stats["prefetchHits"] == ITEMS and stats["prefetchMisses"] == 0
    assert stats["failed"] == 0 and len(stats["loadsMs"]) == ITEMS
    loads = sorted(stats["loadsMs"])
    print(
        f"\nreview keyboard flow: {ITEMS} items in {elapsed:.1f} s = "
        f"{ITEMS / elapsed * 60:.0f} items/min; next item on screen in "
        f"median {loads[len(loads) // 2]:.1f} ms, max {loads[-1]:.1f} ms"
    )
