"""Claiming: never the same item to two reviewers at once, on threads and on processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from promptloop.exceptions import ConflictError
from promptloop.review import queue
from promptloop.review.config import ReviewSettings
from promptloop.review.labels import parse_label, submit_label
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.review.conftest import NOW, world

CLAIMER = Path(__file__).with_name("claimer.py")
SETTINGS = ReviewSettings(double_label_share=0.0)


def _fill(store: Store, n: int) -> list[str]:
    w = world(store)
    ids = [w.interaction() for _ in range(n)]
    for ident in ids:
        w.event(ident, "thumbs_down")
    w.save()
    queue.enqueue(store, SETTINGS, rules=["negative_feedback"], now=NOW)
    return [queue.item_id_for(ident) for ident in ids]


def test_two_reviewers_on_threads_never_share_an_item(store: Store) -> None:
    items = _fill(store, 16)
    claimed: dict[str, list[str]] = {"ann": [], "bob": []}
    start = threading.Barrier(2)

    def work(reviewer: str) -> None:
        start.wait()
        for _ in range(len(items)):  # bounded: at most every item
            found = queue.claim_next(store, reviewer, SETTINGS, now=NOW, exclude=())
            if found is None:
                return
            claimed[reviewer].append(found["item_id"])
            submit_label(store, found["item_id"], reviewer, parse_label({"verdict": "good"}))

    threads = [threading.Thread(target=work, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not set(claimed["ann"]) & set(claimed["bob"])
    assert sorted(claimed["ann"] + claimed["bob"]) == sorted(items)
    assert queue.queue_counts(store)["done"] == 16


@pytest.mark.postgres
def test_two_reviewer_processes_on_postgresql_never_share_an_item(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        items = _fill(store, 24)
    finally:
        store.close()
    go = "go\n"
    procs = [
        subprocess.Popen(
            [sys.executable, str(CLAIMER), pg_url, name, NOW.isoformat()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("ann", "bob")
    ]
    try:
        for proc in procs:  # both connected and waiting: release them together
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(go)
            proc.stdin.flush()
        outputs = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    ann, bob = outputs
    assert ann and bob, "both processes claimed items"
    assert not set(ann) & set(bob)
    assert sorted(ann + bob) == sorted(items)


def test_held_item_comes_back_and_exclude_skips_it(store: Store) -> None:
    _fill(store, 3)
    first = queue.claim_next(store, "ann", SETTINGS, now=NOW)
    assert first is not None
    again = queue.claim_next(store, "ann", SETTINGS, now=NOW)
    assert again is not None and again["item_id"] == first["item_id"]
    other = queue.claim_next(store, "ann", SETTINGS, now=NOW, exclude=[first["item_id"]])
    assert other is not None and other["item_id"] != first["item_id"]
    # bob cannot take either while ann holds them
    bobs = queue.claim_next(store, "bob", SETTINGS, now=NOW)
    assert bobs is not None and bobs["item_id"] not in (first["item_id"], other["item_id"])
    assert queue.claim_next(store, "bob", SETTINGS, now=NOW, exclude=[bobs["item_id"]]) is None


def test_claims_expire(duck: Store) -> None:
    store = duck
    _fill(store, 1)
    held = queue.claim_next(store, "ann", SETTINGS, now=NOW)
    assert held is not None
    assert queue.claim_next(store, "bob", SETTINGS, now=NOW) is None
    later = NOW + timedelta(seconds=SETTINGS.claim_ttl_seconds + 1)
    taken = queue.claim_next(store, "bob", SETTINGS, now=later)
    assert taken is not None and taken["item_id"] == held["item_id"]
    with pytest.raises(
        ConflictError, match=r"claim item .* before labelling it: it is held by bob"
    ):
        submit_label(store, held["item_id"], "ann", parse_label({"verdict": "bad"}))


def test_claim_item_and_release(duck: Store) -> None:
    store = duck
    [item_id] = _fill(store, 1)
    queue.claim_item(store, item_id, "ann", SETTINGS, now=NOW)
    with pytest.raises(ConflictError, match="claimed by ann"):
        queue.claim_item(store, item_id, "bob", SETTINGS, now=NOW)
    queue.release(store, item_id, "bob")  # not bob's: nothing happens
    assert queue.get_item(store, item_id)["claimed_by"] == "ann"
    queue.release(store, item_id, "ann")
    assert queue.claim_item(store, item_id, "bob", SETTINGS, now=NOW)["claimed_by"] == "bob"


def test_double_labelled_item_goes_to_a_second_reviewer(store: Store) -> None:
    settings = ReviewSettings(double_label_share=1.0)
    w = world(store)
    ident = w.interaction()
    w.save()
    item = queue.enqueue_interaction(store, ident, settings, now=NOW)
    assert item["required_labels"] == 2
    queue.claim_next(store, "ann", settings, now=NOW)
    first = submit_label(store, item["item_id"], "ann", parse_label({"verdict": "bad"}), now=NOW)
    assert first["item"]["status"] == "open" and first["item"]["labels_count"] == 1
    assert queue.claim_next(store, "ann", settings, now=NOW) is None  # not twice to ann
    bob = queue.claim_next(store, "bob", settings, now=NOW)
    assert bob is not None and bob["item_id"] == item["item_id"]
    second = submit_label(store, item["item_id"], "bob", parse_label({"verdict": "bad"}), now=NOW)
    assert second["item"]["status"] == "done" and second["item"]["labels_count"] == 2
    with pytest.raises(ConflictError, match="ann already labelled"):
        submit_label(store, item["item_id"], "ann", parse_label({"verdict": "good"}))
    assert queue.claim_next(store, "cy", settings, now=NOW) is None
