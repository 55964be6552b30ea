"""One reviewer as its own process (test_claims): claim and label until the queue is empty.

Usage: ``python claimer.py STORE_URL REVIEWER NOW``. Prints ``ready`` once connected, waits
for a line on stdin (so two processes start together), then prints the claimed item IDs
as a JSON list.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from promptloop.review import queue
from promptloop.review.config import ReviewSettings
from promptloop.review.labels import parse_label, submit_label
from promptloop.store import open_store


def main(url: str, reviewer: str, now: str) -> None:
    store = open_store(url)
    settings = ReviewSettings(double_label_share=0.0)
    moment = datetime.fromisoformat(now)
    print("ready", flush=True)
    sys.stdin.readline()
    claimed: list[str] = []
    try:
        for _ in range(10_000):  # bounded: far more than any test queues
            found = queue.claim_next(store, reviewer, settings, now=moment)
            if found is None:
                break
            claimed.append(found["item_id"])
            submit_label(store, found["item_id"], reviewer, parse_label({"verdict": "good"}))
    finally:
        store.close()
    print(json.dumps(claimed), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
