"""The holdout: a stable, hash-based split that near-duplicates never straddle.

Inputs are normalised (case, punctuation, spacing) and grouped with their near-duplicates
(rapidfuzz similarity at or above :data:`NEAR_DUPLICATE_SCORE`); the *group* is hashed
together with the dataset's name, so a rebuilt dataset keeps every input on the side it was
on, and a near-duplicate of a held-out input is held out too. Groups of earlier versions of a
dataset are reused, which keeps the split stable across versions.

Every evaluation or view that touches held-out items is counted in ``eval_holdout_access``;
:func:`holdout_report` shows development against holdout pass rates per prompt version and
warns when a change improves development but not the holdout (tuning to the dev set).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from promptloop.core.records import utc_now
from promptloop.store.base import Store

DEFAULT_HOLDOUT_FRACTION = 0.2
NEAR_DUPLICATE_SCORE = 90.0  # rapidfuzz ratio (0..100) of normalised inputs
# Up to this many texts (earlier items + new inputs) every pair is compared; beyond, blocking.
EXHAUSTIVE_LIMIT = 2500
BLOCK_WINDOW = 8
# A change "improves development" when the dev pass rate rises by at least this much...
DEV_GAIN = 0.05
# ... and "not the holdout" when the holdout rate rises by less than half of that gain.
HOLDOUT_SHARE_OF_GAIN = 0.5
# Evaluating the holdout this many times or more makes it a tuning set: the report says so.
HEAVY_HOLDOUT_USE = 10

_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str | None) -> str:
    """Lower case, punctuation and runs of spaces folded: what near-duplicates share."""
    return " ".join(_PUNCTUATION.sub(" ", (text or "").lower()).split())


def _group_key(normalised: str) -> str:
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


def split_of(dataset: str, group: str, fraction: float) -> str:
    """``holdout`` for a stable ``fraction`` of groups, else ``dev``."""
    digest = hashlib.sha256(f"{dataset}\x1f{group}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "holdout" if position < fraction else "dev"


class _Components:
    """Union-find over text indices: near-duplicates end up in one component."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, index: int) -> int:
        while self.parent[index] != index:
            self.parent[index] = self.parent[self.parent[index]]
            index = self.parent[index]
        return index

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def _linked_pairs(
    texts: Sequence[str], first_new: int, threshold: float
) -> Iterator[tuple[int, int]]:
    """Pairs of near-duplicate texts, each involving at least one new text (index >= ``first_new``).

    Up to :data:`EXHAUSTIVE_LIMIT` texts every such pair is scored (rapidfuzz's ``cdist``, in
    C++). Beyond, sorted-neighbourhood blocking keeps the cost at n log n: texts sorted as they
    are, reversed and with their words sorted, each scored against its :data:`BLOCK_WINDOW`
    neighbours; a near-duplicate differs in a few characters, which leaves it next to its
    original in at least one of the orders.
    """
    if len(texts) <= EXHAUSTIVE_LIMIT:
        scores = process.cdist(
            texts[first_new:], texts, scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.uint8
        )
        for row, column in zip(*np.nonzero(scores), strict=True):
            new = int(row) + first_new
            if int(column) != new and texts[new] and texts[int(column)]:
                yield new, int(column)
        return
    for key in (_as_is, _reversed, _words_sorted):
        order = sorted(range(len(texts)), key=lambda i: key(texts[i]))
        for position, index in enumerate(order):
            for other in order[position + 1 : position + 1 + BLOCK_WINDOW]:
                if max(index, other) < first_new or not (texts[index] and texts[other]):
                    continue
                if fuzz.ratio(texts[index], texts[other], score_cutoff=threshold):
                    yield index, other


def _as_is(text: str) -> str:
    return text


def _reversed(text: str) -> str:
    return text[::-1]


def _words_sorted(text: str) -> str:
    return " ".join(sorted(text.split()))


def assign_groups(
    store: Store,
    dataset: str,
    inputs: Sequence[str | None],
    *,
    threshold: float = NEAR_DUPLICATE_SCORE,
) -> list[str]:
    """A near-duplicate group key per input.

    Normalised inputs are linked when rapidfuzz's ratio reaches ``threshold`` and grouped
    transitively (connected components), so no linked pair can straddle the split. Inputs
    linked to items of the dataset's earlier versions take those items' group, which keeps
    the split stable across versions; a new group's key is the hash of its smallest text, so
    it does not depend on the order of the inputs.
    """
    earlier: dict[str, str] = {}
    for row in store.fetch_all(
        "SELECT split_group, input FROM eval_items WHERE dataset = :name "
        "ORDER BY version, item_index",
        {"name": dataset},
    ):
        earlier.setdefault(normalise(row["input"]), str(row["split_group"]))
    normalised = [normalise(text) for text in inputs]
    fresh = sorted({text for text in normalised if text not in earlier})
    texts = [*earlier, *fresh]
    components = _Components(len(texts))
    for a, b in _linked_pairs(texts, len(earlier), threshold):
        components.union(a, b)
    keys: dict[int, str] = {}
    for index, text in enumerate(texts):  # earlier texts first: their keys win
        root = components.find(index)
        if root not in keys:
            keys[root] = earlier.get(text) or _group_key(text)
    by_text = {text: keys[components.find(index)] for index, text in enumerate(texts)}
    return [by_text[text] for text in normalised]


def record_access(
    store: Store,
    dataset: str,
    version: int,
    *,
    kind: str,
    items: int,
    actor: str | None,
    run_id: str | None = None,
) -> None:
    """Count one use of held-out items: an eval run, an explicit show or export."""
    store.insert_rows(
        "eval_holdout_access",
        [
            {
                "access_id": str(uuid.uuid4()),
                "dataset": dataset,
                "version": version,
                "kind": kind,
                "run_id": run_id,
                "items": items,
                "actor": actor,
                "timestamp": utc_now(),
            }
        ],
    )


def access_counts(store: Store, dataset: str | None = None) -> dict[str, dict[str, int]]:
    """Per dataset: how many times its holdout was evaluated (runs) and viewed."""
    where = "WHERE dataset = :name" if dataset else ""
    rows = store.fetch_all(
        f"SELECT dataset, kind, count(*) AS n FROM eval_holdout_access {where} "
        "GROUP BY dataset, kind",
        {"name": dataset} if dataset else {},
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = counts.setdefault(str(row["dataset"]), {"evaluations": 0, "views": 0})
        entry["evaluations" if row["kind"] == "run" else "views"] += int(row["n"])
    return counts


def _rates(store: Store, dataset: str | None) -> list[dict[str, Any]]:
    """Pass rates per dataset, prompt version (label), provider and split, per run."""
    where = "WHERE r.dataset = :name" if dataset else ""
    return store.fetch_all(
        f"""
        SELECT r.dataset, r.run_id, r.created_at, e.prompt_label, e.prompt_name,
               e.prompt_version, e.provider_id, e.split,
               count(*) AS n, sum(CASE WHEN e.passed THEN 1 ELSE 0 END) AS passed
        FROM eval_results e JOIN eval_runs r ON r.run_id = e.run_id
        {where}
        GROUP BY r.dataset, r.run_id, r.created_at, e.prompt_label, e.prompt_name,
                 e.prompt_version, e.provider_id, e.split
        ORDER BY r.created_at, r.run_id, e.prompt_label, e.provider_id
        """,
        {"name": dataset} if dataset else {},
    )


def holdout_report(store: Store, dataset: str | None = None) -> list[dict[str, Any]]:
    """Development vs holdout pass rates per dataset, prompt version and provider.

    One row per (dataset, prompt label, provider), in the order the versions were first
    evaluated, with the latest run's rates; ``warning`` is set on a row whose version
    improved development over the previous version but not the holdout, and on every row of
    a dataset whose holdout was evaluated :data:`HEAVY_HOLDOUT_USE` times or more.
    """
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in _rates(store, dataset):
        key = (str(row["dataset"]), str(row["prompt_label"]), str(row["provider_id"]))
        entry = latest.get(key)
        if entry is None or entry["run_id"] != row["run_id"]:
            first_seen = entry["first_seen"] if entry else row["created_at"]
            entry = latest[key] = {
                "dataset": key[0],
                "prompt_label": key[1],
                "prompt_name": row["prompt_name"],
                "prompt_version": row["prompt_version"],
                "provider_id": key[2],
                "run_id": row["run_id"],
                "first_seen": first_seen,
                "dev": {"n": 0, "passed": 0},
                "holdout": {"n": 0, "passed": 0},
            }
        side = entry["holdout" if row["split"] == "holdout" else "dev"]
        side["n"] += int(row["n"])
        side["passed"] += int(row["passed"] or 0)
    counts = access_counts(store, dataset)
    report = sorted(
        latest.values(), key=lambda e: (e["dataset"], e["provider_id"], e["first_seen"])
    )
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in report:
        for side in ("dev", "holdout"):
            part = entry[side]
            part["pass_rate"] = part["passed"] / part["n"] if part["n"] else None
        entry["first_seen"] = entry["first_seen"].isoformat() if entry["first_seen"] else None
        uses = counts.get(entry["dataset"], {"evaluations": 0, "views": 0})
        entry["holdout_evaluations"] = uses["evaluations"]
        entry["holdout_views"] = uses["views"]
        scope = (entry["dataset"], entry["provider_id"])
        entry["warning"] = _warning(previous.get(scope), entry)
        previous[scope] = entry
    return report


def _warning(before: dict[str, Any] | None, after: dict[str, Any]) -> str | None:
    notes: list[str] = []
    if after["holdout_evaluations"] >= HEAVY_HOLDOUT_USE:
        notes.append(
            f"the holdout was evaluated {after['holdout_evaluations']} times: it is becoming "
            "a tuning set; build a new dataset version for a fresh holdout"
        )
    if before is not None:
        dev_gain = _gain(before["dev"], after["dev"])
        holdout_gain = _gain(before["holdout"], after["holdout"])
        if dev_gain is not None and dev_gain >= DEV_GAIN:
            if holdout_gain is None:
                notes.append(
                    f"{after['prompt_label']} improves development by {dev_gain:+.1%} over "
                    f"{before['prompt_label']} but the holdout was not evaluated"
                )
            elif holdout_gain < dev_gain * HOLDOUT_SHARE_OF_GAIN:
                notes.append(
                    f"{after['prompt_label']} improves development by {dev_gain:+.1%} over "
                    f"{before['prompt_label']} but the holdout by {holdout_gain:+.1%}: "
                    "likely overfitted to the development items"
                )
    return "; ".join(notes) or None


def _gain(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    if before.get("pass_rate") is None or after.get("pass_rate") is None:
        return None
    return float(after["pass_rate"]) - float(before["pass_rate"])
