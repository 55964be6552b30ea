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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from promptloop.core.records import utc_now
from promptloop.store.base import Store

DEFAULT_HOLDOUT_FRACTION = 0.2
NEAR_DUPLICATE_SCORE = 90.0  # rapidfuzz ratio (0..100) of normalised inputs
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


@dataclass
class _Groups:
    """Group keys by normalised input (every member) and one representative text per group
    for the fuzzy search; grows as inputs arrive. Identical normalised inputs always land in
    the same group, in this version and every later one."""

    exact: dict[str, str]
    texts: list[str]
    keys: list[str]

    def key_for(self, normalised: str, threshold: float) -> str:
        known = self.exact.get(normalised)
        if known is not None:
            return known
        key = None
        if normalised:
            found = process.extractOne(
                normalised, self.texts, scorer=fuzz.ratio, score_cutoff=threshold
            )
            if found is not None:
                key = self.keys[found[2]]
        if key is None:
            key = _group_key(normalised)
            self.texts.append(normalised)
            self.keys.append(key)
        self.exact[normalised] = key
        return key


def assign_groups(
    store: Store,
    dataset: str,
    inputs: Sequence[str | None],
    *,
    threshold: float = NEAR_DUPLICATE_SCORE,
) -> list[str]:
    """A near-duplicate group key per input; groups of the dataset's earlier versions are kept."""
    earlier = store.fetch_all(
        "SELECT split_group, input, version, item_index FROM eval_items WHERE dataset = :name "
        "ORDER BY version, item_index",
        {"name": dataset},
    )
    groups = _Groups(exact={}, texts=[], keys=[])
    represented: set[str] = set()
    for row in earlier:
        normalised, key = normalise(row["input"]), str(row["split_group"])
        groups.exact.setdefault(normalised, key)
        if key not in represented:
            represented.add(key)
            groups.texts.append(normalised)
            groups.keys.append(key)
    return [groups.key_for(normalise(text), threshold) for text in inputs]


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
