"""The review queue: enqueue by rules, claim atomically, show an item with its context.

One item per interaction: when several rules pick the same interaction in one run, the item
takes the most important rule, lists every reason, and gets a small bonus per extra reason;
an interaction already queued (open or done) is not queued again. Item IDs derive from the
interaction ID, so enqueueing twice adds nothing (``INSERT ... ON CONFLICT DO NOTHING``).

Claiming is a compare-and-set: one ``UPDATE`` takes the best open item that nobody holds
(or whose claim expired) and that this reviewer has not labelled, and stamps it with a fresh
token; the reviewer then reads the item back by that token. On PostgreSQL the inner select
takes ``FOR UPDATE SKIP LOCKED``, so concurrent reviewers pass each other instead of
queueing on the same row; DuckDB runs writes one at a time in its single process.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from promptloop.analytics.queries import LIST_COLUMNS, feedback_for
from promptloop.core.enums import FeedbackSource
from promptloop.core.records import as_utc, utc_now
from promptloop.exceptions import ConfigError, ConflictError, NotFoundError
from promptloop.review.config import RULE_NAMES, ReviewSettings
from promptloop.review.rules import RULES, Candidate, Window, sampled
from promptloop.store.base import Store

_ITEM_NAMESPACE = uuid.UUID("3c5e2f0a-8b7d-4e21-a9f4-1d6c0b5e7a42")
STATUSES = ("open", "done")
MAX_REVIEWER_CHARS = 200
_MAX_ATTEMPTS = 20  # lost compare-and-set races before giving up (each one means progress)
_CHUNK = 500


def item_id_for(interaction_id: str) -> str:
    return str(uuid.uuid5(_ITEM_NAMESPACE, interaction_id))


def double_labelled(item_id: str, share: float) -> bool:
    """Hash-based, so the same items are picked whatever the order of enqueueing."""
    digest = hashlib.sha256(f"double:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


TRANSACTIONAL_DIALECTS = ("duckdb", "postgresql")


def require_transactions(store: Store) -> None:
    """Claims and labels are compare-and-set UPDATEs inside transactions: SQL stores only."""
    if store.dialect not in TRANSACTIONAL_DIALECTS:
        raise ConfigError(
            f"the review queue needs DuckDB or PostgreSQL (transactional updates); this store "
            f"is {store.dialect}: run the queue on a DuckDB or PostgreSQL store"
        )


def check_reviewer(reviewer: str | None) -> str:
    name = (reviewer or "").strip()
    if not name:
        raise ValueError("reviewer: required (who is reviewing)")
    if len(name) > MAX_REVIEWER_CHARS:
        raise ValueError(f"reviewer: at most {MAX_REVIEWER_CHARS} characters")
    return name


# ---------------------------------------------------------------------------- enqueue


def enqueue(
    store: Store,
    settings: ReviewSettings | None = None,
    *,
    days: int = 7,
    now: datetime | None = None,
    rules: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run the queue rules over the last ``days`` days; return what each found and added."""
    settings = settings or ReviewSettings()
    require_transactions(store)
    if days <= 0:
        raise ValueError("days: must be positive")
    chosen = list(rules) if rules else [name for name in RULES if settings.enabled(name)]
    unknown = [name for name in chosen if name not in RULES]
    if unknown:
        raise ValueError(f"rules: unknown {unknown}; one of: {', '.join(RULES)}")
    until = as_utc(now or utc_now())
    window = Window(until - timedelta(days=days), until)
    found: dict[str, list[Candidate]] = {
        name: RULES[name](store, settings, window) for name in chosen
    }
    rows = _new_rows(store, [c for name in chosen for c in found[name]], settings, until)
    added = store.insert_rows("review_items", rows) if rows else 0
    by_rule: dict[str, int] = {name: 0 for name in chosen}
    for row in rows:
        by_rule[row["rule"]] += 1
    return {
        "window": {"since": window.since, "until": window.until},
        "found": {name: len(found[name]) for name in chosen},
        "added": added,
        "added_by_rule": by_rule,
        "open": count_open(store),
    }


def _new_rows(
    store: Store, candidates: Sequence[Candidate], settings: ReviewSettings, now: datetime
) -> list[dict[str, Any]]:
    grouped: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        grouped.setdefault(candidate.interaction_id, []).append(candidate)
    queued = _already_queued(store, list(grouped))
    rows = []
    for interaction_id, matched in grouped.items():
        if interaction_id not in queued:
            rows.append(_item_row(interaction_id, matched, settings, now))
    return rows


def _item_row(
    interaction_id: str, matched: Sequence[Candidate], settings: ReviewSettings, now: datetime
) -> dict[str, Any]:
    ordered = sorted(matched, key=lambda c: (-c.priority, RULE_NAMES.index(c.rule)))
    distinct_rules = {c.rule for c in ordered}
    priority = min(
        1.0, ordered[0].priority + settings.extra_reason_bonus * (len(distinct_rules) - 1)
    )
    item_id = item_id_for(interaction_id)
    reasons = [{"rule": c.rule, "reason": c.reason} for c in ordered]
    return {
        "item_id": item_id,
        "interaction_id": interaction_id,
        "rule": ordered[0].rule,
        "reasons": json.dumps(reasons, ensure_ascii=False),
        "priority": round(priority, 4),
        "sampled": "random_sample" in distinct_rules or in_sample(interaction_id, settings),
        "enqueued_at": now,
        "status": "open",
        "required_labels": 2 if double_labelled(item_id, settings.double_label_share) else 1,
        "labels_count": 0,
        "claimed_by": None,
        "claim_token": None,
        "claimed_at": None,
        "claim_expires_at": None,
        "completed_at": None,
    }


def in_sample(interaction_id: str, settings: ReviewSettings) -> bool:
    """Whether the uniform sample holds this interaction, whichever rule queued it: an
    interaction flagged (and queued) before the sampler ran must still count in the sample,
    or the sample would lean towards unflagged traffic."""
    rule = settings.rules.random_sample
    return rule.enabled and sampled(interaction_id, rule.seed, rule.rate)


def _already_queued(store: Store, interaction_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(interaction_ids, _CHUNK):
        names = {f"i{n}": ident for n, ident in enumerate(chunk)}
        rows = store.fetch_all(
            "SELECT interaction_id FROM review_items WHERE interaction_id IN "
            f"({', '.join(':' + name for name in names)})",
            names,
        )
        found.update(row["interaction_id"] for row in rows)
    return found


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def enqueue_interaction(
    store: Store,
    interaction_id: str,
    settings: ReviewSettings | None = None,
    *,
    reason: str = "picked by hand",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Queue one interaction by hand (rule ``manual``); return its item (new or existing)."""
    settings = settings or ReviewSettings()
    if not store.fetch_all(
        "SELECT 1 AS found FROM llm_interaction_logs WHERE interaction_id = :id",
        {"id": interaction_id},
    ):
        raise NotFoundError(f"no interaction {interaction_id}")
    candidate = Candidate(interaction_id, "manual", reason, settings.priority_of("manual"))
    store.insert_rows(
        "review_items", [_item_row(interaction_id, [candidate], settings, as_utc(now or utc_now()))]
    )
    return get_item(store, item_id_for(interaction_id))


# ---------------------------------------------------------------------------- claiming

# Open, not labelled by this reviewer, and free (nobody holds it, the claim expired, or this
# reviewer holds it already: claiming it again resumes it and extends the claim).
_CLAIMABLE = """
    i.status = 'open'
    AND (i.claimed_by IS NULL OR i.claim_expires_at <= :now OR i.claimed_by = :reviewer)
    AND NOT EXISTS (
        SELECT 1 FROM review_labels x WHERE x.item_id = i.item_id AND x.reviewer = :reviewer
    )
"""


def _excluded(exclude: Sequence[str], params: dict[str, Any]) -> str:
    if not exclude:
        return ""
    names = []
    for n, ident in enumerate(exclude):
        params[f"x{n}"] = ident
        names.append(f":x{n}")
    return f" AND i.item_id NOT IN ({', '.join(names)})"


def claim_next(
    store: Store,
    reviewer: str,
    settings: ReviewSettings | None = None,
    *,
    now: datetime | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The reviewer's next item, claimed for ``claim_ttl_seconds``; None when nothing is left.

    An item the reviewer already holds (and has not labelled) comes back first, so a
    reloaded page or a restarted CLI resumes; ``exclude`` skips items already in hand (the
    dashboard prefetches the one after the current one).
    """
    reviewer = check_reviewer(reviewer)
    require_transactions(store)
    settings = settings or ReviewSettings()
    now = as_utc(now or utc_now())
    for _ in range(_MAX_ATTEMPTS):
        token = str(uuid.uuid4())
        params: dict[str, Any] = {
            "reviewer": reviewer,
            "token": token,
            "now": now,
            "expires": now + timedelta(seconds=settings.claim_ttl_seconds),
        }
        excluded = _excluded(exclude, params)
        lock = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
        store.execute(
            f"""
            UPDATE review_items SET claimed_by = :reviewer, claim_token = :token,
                claimed_at = :now, claim_expires_at = :expires
            WHERE item_id = (
                SELECT i.item_id FROM review_items i
                WHERE {_CLAIMABLE}{excluded}
                ORDER BY CASE WHEN i.claimed_by = :reviewer AND i.claim_expires_at > :now
                              THEN 0 ELSE 1 END,
                         i.priority DESC, i.enqueued_at, i.item_id
                LIMIT 1{lock}
            )
            AND status = 'open'
            AND (claimed_by IS NULL OR claim_expires_at <= :now OR claimed_by = :reviewer)
            """,
            params,
        )
        got = store.fetch_all("SELECT * FROM review_items WHERE claim_token = :t", {"t": token})
        if got:
            return _item(got[0])
        if not _any_claimable(store, reviewer, now, exclude):
            return None
    raise ConflictError("the queue is too busy: no item could be claimed, try again")


def _any_claimable(store: Store, reviewer: str, now: datetime, exclude: Sequence[str]) -> bool:
    params: dict[str, Any] = {"reviewer": reviewer, "now": now}
    rows = store.fetch_all(
        f"SELECT count(*) AS n FROM review_items i WHERE {_CLAIMABLE}{_excluded(exclude, params)}",
        params,
    )
    return int(rows[0]["n"]) > 0


def claim_item(
    store: Store,
    item_id: str,
    reviewer: str,
    settings: ReviewSettings | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Claim one named item (compare-and-set); ConflictError if someone else holds it."""
    reviewer = check_reviewer(reviewer)
    require_transactions(store)
    settings = settings or ReviewSettings()
    now = as_utc(now or utc_now())
    item = get_item(store, item_id)
    if item["claimed_by"] == reviewer and item["status"] == "open":
        return item
    token = str(uuid.uuid4())
    store.execute(
        """
        UPDATE review_items SET claimed_by = :reviewer, claim_token = :token,
            claimed_at = :now, claim_expires_at = :expires
        WHERE item_id = :item AND status = 'open'
          AND (claimed_by IS NULL OR claim_expires_at <= :now)
        """,
        {
            "reviewer": reviewer,
            "token": token,
            "now": now,
            "expires": now + timedelta(seconds=settings.claim_ttl_seconds),
            "item": item_id,
        },
    )
    claimed = get_item(store, item_id)
    if claimed["claim_token"] != token:
        if claimed["status"] != "open":
            raise ConflictError(f"item {item_id} is already fully labelled")
        raise ConflictError(f"item {item_id} is claimed by {claimed['claimed_by']}")
    return claimed


def release(store: Store, item_id: str, reviewer: str) -> dict[str, Any]:
    """Give a claimed item back to the queue (only its holder can)."""
    reviewer = check_reviewer(reviewer)
    store.execute(
        "UPDATE review_items SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL,"
        " claim_expires_at = NULL WHERE item_id = :item AND claimed_by = :reviewer",
        {"item": item_id, "reviewer": reviewer},
    )
    return get_item(store, item_id)


# ---------------------------------------------------------------------------- reading


def _item(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    reasons = out.get("reasons")
    out["reasons"] = json.loads(reasons) if isinstance(reasons, str) else (reasons or [])
    out["sampled"] = bool(out.get("sampled"))
    return out


def get_item(store: Store, item_id: str) -> dict[str, Any]:
    rows = store.fetch_all("SELECT * FROM review_items WHERE item_id = :id", {"id": item_id})
    if not rows:
        raise NotFoundError(f"no review item {item_id}")
    return _item(rows[0])


def count_open(store: Store) -> int:
    rows = store.fetch_all("SELECT count(*) AS n FROM review_items WHERE status = 'open'")
    return int(rows[0]["n"])


def list_items(
    store: Store, *, status: str | None = "open", rule: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Items in the order reviewers get them, with the queue's counts."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: unknown {status!r}; one of: {', '.join(STATUSES)}")
    if rule is not None and rule not in RULE_NAMES:
        raise ValueError(f"rule: unknown {rule!r}; one of: {', '.join(RULE_NAMES)}")
    if not 1 <= limit <= 1000:
        raise ValueError("limit: must be between 1 and 1000")
    clauses: list[str] = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        clauses.append("i.status = :status")
        params["status"] = status
    if rule is not None:
        clauses.append("i.rule = :rule")
        params["rule"] = rule
    rows = store.fetch_all(
        f"""
        SELECT i.*, l.feature, l.prompt_version, l.user_input FROM review_items i
        LEFT JOIN llm_interaction_logs l ON l.interaction_id = i.interaction_id
        WHERE {" AND ".join(clauses)}
        ORDER BY i.priority DESC, i.enqueued_at, i.item_id LIMIT :limit
        """,
        params,
    )
    return {"items": [_item(row) for row in rows], "counts": queue_counts(store)}


def queue_counts(store: Store) -> dict[str, Any]:
    rows = store.fetch_all(
        "SELECT rule, status, count(*) AS n, sum(labels_count) AS labels FROM review_items"
        " GROUP BY rule, status ORDER BY rule, status"
    )
    by_rule: dict[str, dict[str, int]] = {}
    for row in rows:
        by_rule.setdefault(row["rule"], {})[row["status"]] = int(row["n"])
    return {
        "open": sum(int(r["n"]) for r in rows if r["status"] == "open"),
        "done": sum(int(r["n"]) for r in rows if r["status"] == "done"),
        "labels": sum(int(r["labels"] or 0) for r in rows),
        "by_rule": by_rule,
    }


def item_view(store: Store, item: dict[str, Any]) -> dict[str, Any]:
    """What a reviewer sees: the item, its interaction, its whole session, its feedback, and
    the label form's pre-filled values (the category a user picked in the widget).

    Three queries with a session (the interaction, the session's turns, the session's
    feedback, the item's own among it), two without: this is on the path of every "next".
    """
    ident = item["interaction_id"]
    rows = store.fetch_all(
        "SELECT * FROM llm_interaction_logs WHERE interaction_id = :id", {"id": ident}
    )
    interaction = rows[0] if rows else {"interaction_id": ident, "missing": True}
    session_id = interaction.get("session_id")
    if session_id:
        events = store.fetch_all(
            """
            SELECT f.* FROM feedback_events f
            JOIN llm_interaction_logs l ON l.interaction_id = f.interaction_id
            WHERE l.session_id = :session ORDER BY f.timestamp, f.feedback_id
            """,
            {"session": session_id},
        )
        feedback = [event for event in events if event["interaction_id"] == ident]
        session = _session(store, session_id, ident, events)
    else:
        feedback, session = feedback_for(store, ident), []
    return {
        "item": item,
        "interaction": interaction,
        "feedback": feedback,
        "session": session,
        "prefill": prefill(feedback),
    }


def _session(
    store: Store, session_id: str, current: str, events: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    columns = ", ".join(f"l.{name}" for name in LIST_COLUMNS if name != "metadata")
    turns = store.fetch_all(
        f"""
        SELECT {columns} FROM llm_interaction_logs l WHERE l.session_id = :session
        ORDER BY l.timestamp, l.interaction_id LIMIT 50
        """,
        {"session": session_id},
    )
    by_turn: dict[str, list[str]] = {}
    for event in events:
        label = event["feedback_type"] + (f":{event['category']}" if event["category"] else "")
        by_turn.setdefault(event["interaction_id"], []).append(label)
    for turn in turns:
        turn["signals"] = by_turn.get(turn["interaction_id"], [])
        turn["current"] = turn["interaction_id"] == current
    return turns


def prefill(feedback: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The user's own words pre-fill the form: the latest category they picked, and a
    correction or edit they made as the suggested corrected answer."""
    users = [f for f in feedback if f.get("source") == FeedbackSource.USER.value]
    category = next((f["category"] for f in reversed(users) if f.get("category")), None)
    fixed = next(
        (
            f["user_edit"]
            for f in reversed(users)
            if f.get("feedback_type") in ("correction", "edit") and f.get("user_edit")
        ),
        None,
    )
    return {"category": category, "suggested_correction": fixed}
