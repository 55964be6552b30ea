"""Eval datasets built from production: named, versioned sets of real interactions.

``build_dataset`` selects interactions with the analytics' filters (a feedback type or any
negative feedback, a feature, a prompt version, a time window, a failure cluster, a uniform
random sample) and stores them as items of a new version of a named dataset. Each item keeps
its source interaction, its input variables, the output users saw (``bad_output``) and the
user's edit or correction as ``reference``. Items from negative feedback enter as
``candidate``: a person accepts them (with an expected property) before they count.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from promptloop.analytics.queries import NEGATIVE_CONDITION, InteractionFilter
from promptloop.core.records import as_utc, utc_now
from promptloop.evals import holdout
from promptloop.evals._rows import dumps, loads, plain, stable_id
from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.store.base import Store

STATUSES = ("candidate", "accepted", "rejected")
SPLITS = ("dev", "holdout")
# The variable an item's user input is passed to prompts as.
INPUT_VAR = "user_input"
JSON_COLUMNS = ("vars", "assertions", "metadata", "query")
AUTO_ACCEPTED = "auto: no negative feedback"
# Feedback types whose ``user_edit`` is the answer the user wanted.
REFERENCE_TYPES = ("correction", "edit")


@dataclass(frozen=True)
class DatasetQuery:
    """Which interactions a dataset is built from. Set fields are ANDed.

    ``source``: ``negative`` (any negative feedback), a feedback type (``thumbs_down``,
    ``correction``, ...), ``cluster`` (members of ``cluster_id``) or ``all``.
    ``sample``: keep a uniform random sample of this many (seeded: reproducible).
    """

    source: str = "negative"
    feature: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cluster_id: str | None = None
    sample: int | None = None
    seed: int = 0
    limit: int | None = None

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        for key in ("since", "until"):
            if found[key] is not None:
                found[key] = as_utc(found[key]).isoformat()
        return found


@dataclass
class NewItem:
    """An item as imported or built, before it gets its ID and split."""

    input: str | None
    vars: dict[str, Any] = field(default_factory=dict)
    bad_output: str | None = None
    reference: str | None = None
    source_interaction_id: str | None = None
    feature: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    feedback_types: str | None = None
    status: str = "accepted"
    expected: str | None = None
    assertions: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    accepted_by: str | None = None


# ---------------------------------------------------------------------- selection


def _selection_sql(query: DatasetQuery) -> tuple[str, dict[str, Any]]:
    filters = InteractionFilter(
        feature=query.feature,
        prompt_name=query.prompt_name,
        prompt_version=query.prompt_version,
        model=query.model,
        since=query.since,
        until=query.until,
        feedback_type=None if query.source in ("negative", "all", "cluster") else query.source,
    )
    condition, params = filters.where("l")
    if query.source == "negative":
        condition += (
            " AND l.interaction_id IN (SELECT f.interaction_id FROM feedback_events f"
            f" WHERE {NEGATIVE_CONDITION})"
        )
    if query.source == "cluster" or query.cluster_id:
        if not query.cluster_id:
            raise ValueError("cluster_id: required when the source is a failure cluster")
        condition += (
            " AND l.interaction_id IN (SELECT interaction_id FROM cluster_members"
            " WHERE cluster_id = :cluster_id)"
        )
        params["cluster_id"] = query.cluster_id
    return condition, params


def select_interactions(store: Store, query: DatasetQuery) -> list[str]:
    """The IDs of the interactions the query selects, oldest first (sampled when asked)."""
    condition, params = _selection_sql(query)
    rows = store.fetch_all(
        f"SELECT l.interaction_id FROM llm_interaction_logs l WHERE {condition} "
        "ORDER BY l.timestamp, l.interaction_id",
        params,
    )
    ids = [str(row["interaction_id"]) for row in rows]
    if query.sample is not None and query.sample < len(ids):
        picked = set(random.Random(query.seed).sample(ids, query.sample))
        ids = [ident for ident in ids if ident in picked]
    if query.limit is not None:
        ids = ids[-query.limit :]  # the most recent ones
    return ids


def _chunks(values: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _in_clause(ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    names = [f"id{index}" for index in range(len(ids))]
    return ", ".join(f":{name}" for name in names), dict(zip(names, ids, strict=True))


def _items_from_interactions(store: Store, ids: Sequence[str]) -> list[NewItem]:
    rows: dict[str, dict[str, Any]] = {}
    feedback: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(ids):
        marks, params = _in_clause(chunk)
        for row in store.fetch_all(
            "SELECT interaction_id, feature, prompt_name, prompt_version, model, user_input,"
            f" raw_output, metadata FROM llm_interaction_logs WHERE interaction_id IN ({marks})",
            params,
        ):
            rows[str(row["interaction_id"])] = row
        for event in store.fetch_all(
            "SELECT f.interaction_id, f.feedback_type, f.category, f.value, f.user_edit,"
            f" f.timestamp, CASE WHEN {NEGATIVE_CONDITION} THEN 1 ELSE 0 END AS negative"
            f" FROM feedback_events f WHERE f.interaction_id IN ({marks})"
            " ORDER BY f.timestamp, f.feedback_id",
            params,
        ):
            feedback.setdefault(str(event["interaction_id"]), []).append(event)
    return [_item_of(rows[ident], feedback.get(ident, [])) for ident in ids if ident in rows]


def _item_of(row: dict[str, Any], events: list[dict[str, Any]]) -> NewItem:
    metadata = loads(row.get("metadata")) or {}
    extra_vars = metadata.get("vars") if isinstance(metadata, Mapping) else None
    variables = {**(dict(extra_vars) if isinstance(extra_vars, Mapping) else {})}
    variables[INPUT_VAR] = row["user_input"]
    references = [
        e["user_edit"] for e in events if e["feedback_type"] in REFERENCE_TYPES and e["user_edit"]
    ]
    negative = any(int(e["negative"]) for e in events)
    categories = sorted({str(e["category"]) for e in events if e.get("category")})
    return NewItem(
        input=row["user_input"],
        vars=variables,
        bad_output=row["raw_output"],
        reference=references[-1] if references else None,
        source_interaction_id=str(row["interaction_id"]),
        feature=row["feature"],
        prompt_name=row["prompt_name"],
        prompt_version=row["prompt_version"],
        feedback_types=",".join(sorted({str(e["feedback_type"]) for e in events})) or None,
        status="candidate" if negative else "accepted",
        accepted_by=None if negative else AUTO_ACCEPTED,
        metadata={"model": row["model"], "categories": categories} if categories else {},
    )


# ---------------------------------------------------------------------- writing


def _next_version(store: Store, name: str) -> int:
    rows = store.fetch_all(
        "SELECT max(version) AS v FROM eval_datasets WHERE name = :name", {"name": name}
    )
    return int(rows[0]["v"] or 0) + 1


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 128 or any(ch in cleaned for ch in "@/\\\n\t "):
        raise ValueError(
            f"name: {name!r} must be 1-128 characters without spaces, '@', '/' or '\\'"
        )
    return cleaned


def create_version(
    store: Store,
    name: str,
    items: Sequence[NewItem],
    *,
    query: Mapping[str, Any] | None = None,
    description: str | None = None,
    holdout_fraction: float = holdout.DEFAULT_HOLDOUT_FRACTION,
    created_by: str | None = None,
    source: str = "build",
) -> dict[str, Any]:
    """Store ``items`` as a new version of dataset ``name``, with their holdout split."""
    name = check_name(name)
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError("holdout_fraction: must be at least 0 and below 1")
    for item in items:
        if item.status not in STATUSES:
            raise ValueError(f"status: {item.status!r} is not one of {', '.join(STATUSES)}")
    version = _next_version(store, name)
    now = utc_now()
    groups = holdout.assign_groups(store, name, [item.input for item in items])
    features = {item.feature for item in items if item.feature}
    store.insert_rows(
        "eval_datasets",
        [
            {
                "name": name,
                "version": version,
                "created_at": now,
                "created_by": created_by,
                "query": dumps(dict(query or {})),
                "description": description,
                "feature": features.pop() if len(features) == 1 else None,
                "holdout_fraction": holdout_fraction,
                "source": source,
            }
        ],
    )
    rows = [
        _item_row(name, version, index, item, group, holdout_fraction, now)
        for index, (item, group) in enumerate(zip(items, groups, strict=True))
    ]
    if rows:
        store.insert_rows("eval_items", rows)
    return get_dataset(store, name, version)


def _item_row(
    name: str,
    version: int,
    index: int,
    item: NewItem,
    group: str,
    fraction: float,
    now: datetime,
) -> dict[str, Any]:
    accepted = item.status == "accepted"
    return {
        "item_id": stable_id(
            name, version, index, item.source_interaction_id or item.input, length=12
        ),
        "dataset": name,
        "version": version,
        "item_index": index,
        "source_interaction_id": item.source_interaction_id,
        "feature": item.feature,
        "prompt_name": item.prompt_name,
        "prompt_version": item.prompt_version,
        "input": item.input,
        "vars": dumps(item.vars),
        "bad_output": item.bad_output,
        "reference": item.reference,
        "feedback_types": item.feedback_types,
        "status": item.status,
        "expected": item.expected,
        "assertions": dumps(item.assertions),
        "split": holdout.split_of(name, group, fraction),
        "split_group": group,
        "accepted_by": item.accepted_by if accepted else None,
        "accepted_at": now if accepted else None,
        "created_at": now,
        "metadata": dumps(item.metadata),
    }


def build_dataset(
    store: Store,
    name: str,
    query: DatasetQuery,
    *,
    description: str | None = None,
    holdout_fraction: float = holdout.DEFAULT_HOLDOUT_FRACTION,
    created_by: str | None = None,
) -> dict[str, Any]:
    """Select interactions by ``query`` into a new version of dataset ``name``."""
    ids = select_interactions(store, query)
    if not ids:
        raise ValueError(
            "query: no interactions match; widen --from, --feature or --since "
            "(an empty version would evaluate nothing)"
        )
    items = _items_from_interactions(store, ids)
    return create_version(
        store,
        name,
        items,
        query=query.as_json(),
        description=description,
        holdout_fraction=holdout_fraction,
        created_by=created_by,
    )


# ---------------------------------------------------------------------- reading


def resolve(store: Store, reference: str) -> tuple[str, int]:
    """``NAME`` (its latest version) or ``NAME@VERSION`` as (name, version)."""
    name, _, number = reference.partition("@")
    if number:
        try:
            version = int(number.removeprefix("v"))
        except ValueError:
            raise ValueError(f"dataset: {reference!r} is not NAME or NAME@VERSION") from None
        return name, version
    rows = store.fetch_all(
        "SELECT max(version) AS v FROM eval_datasets WHERE name = :name", {"name": name}
    )
    if rows[0]["v"] is None:
        raise NotFoundError(f"no dataset named {name!r}")
    return name, int(rows[0]["v"])


def list_datasets(store: Store) -> list[dict[str, Any]]:
    """Every dataset version, newest first, with its item counts by status and split."""
    datasets = store.fetch_all("SELECT * FROM eval_datasets ORDER BY name, version DESC")
    counts = store.fetch_all(
        "SELECT dataset, version, status, split, count(*) AS n FROM eval_items "
        "GROUP BY dataset, version, status, split"
    )
    uses = holdout.access_counts(store)
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for row in counts:
        entry = by_key.setdefault((row["dataset"], int(row["version"])), _empty_counts())
        entry["items"] += int(row["n"])
        entry[str(row["status"])] += int(row["n"])
        if row["status"] == "accepted":
            entry[f"accepted_{row['split']}"] += int(row["n"])
    found = []
    for row in datasets:
        counted = by_key.get((row["name"], int(row["version"])), _empty_counts())
        found.append(
            {
                **plain(row, JSON_COLUMNS),
                **counted,
                "holdout_evaluations": uses.get(row["name"], {}).get("evaluations", 0),
                "holdout_views": uses.get(row["name"], {}).get("views", 0),
            }
        )
    return found


def _empty_counts() -> dict[str, Any]:
    return {
        "items": 0,
        "candidate": 0,
        "accepted": 0,
        "rejected": 0,
        "accepted_dev": 0,
        "accepted_holdout": 0,
    }


def get_dataset(store: Store, name: str, version: int | None = None) -> dict[str, Any]:
    if version is None:
        name, version = resolve(store, name)
    for entry in list_datasets(store):
        if entry["name"] == name and int(entry["version"]) == version:
            return entry
    raise NotFoundError(f"no dataset {name}@{version}")


def items(
    store: Store,
    name: str,
    version: int,
    *,
    status: str | None = None,
    splits: Sequence[str] = ("dev",),
    feature: str | None = None,
) -> list[dict[str, Any]]:
    """The items of one dataset version, in their order; the holdout only when asked."""
    clauses = ["dataset = :name", "version = :version"]
    params: dict[str, Any] = {"name": name, "version": version}
    if status is not None:
        clauses.append("status = :status")
        params["status"] = status
    if feature is not None:
        clauses.append("feature = :feature")
        params["feature"] = feature
    split_names = [split for split in splits if split in SPLITS]
    marks = ", ".join(f":split{index}" for index in range(len(split_names)))
    clauses.append(f"split IN ({marks or 'NULL'})")
    params.update({f"split{index}": split for index, split in enumerate(split_names)})
    rows = store.fetch_all(
        f"SELECT * FROM eval_items WHERE {' AND '.join(clauses)} ORDER BY item_index", params
    )
    return [plain(row, JSON_COLUMNS) for row in rows]


def read_items(
    store: Store,
    reference: str,
    *,
    status: str | None = None,
    include_holdout: bool = False,
    actor: str | None = None,
    purpose: str = "show",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A dataset and its items for a view: the holdout is hidden unless asked, and counted."""
    name, version = resolve(store, reference)
    dataset = get_dataset(store, name, version)
    splits = SPLITS if include_holdout else ("dev",)
    found = items(store, name, version, status=status, splits=splits)
    held = sum(1 for item in found if item["split"] == "holdout")
    if held:
        holdout.record_access(store, name, version, kind=purpose, items=held, actor=actor)
    return dataset, found


def item(store: Store, item_id: str) -> dict[str, Any]:
    """One item by its ID, or by an unambiguous prefix of 6+ characters (what tables show)."""
    rows = store.fetch_all("SELECT * FROM eval_items WHERE item_id = :id", {"id": item_id})
    if not rows and len(item_id) >= 6:
        rows = store.fetch_all(
            "SELECT * FROM eval_items WHERE item_id LIKE :prefix ORDER BY item_id LIMIT 2",
            {"prefix": item_id.replace("%", "").replace("_", "") + "%"},
        )
        if len(rows) > 1:
            raise ValueError(f"item: {item_id!r} is the start of more than one item ID")
    if not rows:
        raise NotFoundError(f"no dataset item {item_id}")
    return plain(rows[0], JSON_COLUMNS)


# ---------------------------------------------------------------------- curation


def _decision(
    current: Mapping[str, Any],
    status: str,
    by: str,
    expected: str | None,
    assertions: list[dict[str, Any]],
    reference: str | None,
) -> tuple[str, dict[str, Any]]:
    """The UPDATE for one decision; ``ValueError`` when accepting without a property."""
    if status == "accepted" and not (
        expected or assertions or current.get("expected") or current.get("assertions")
    ):
        raise ValueError(
            "expected: accepting a candidate needs an expected property "
            "(a sentence for the judge, or an assertion such as not-contains)"
        )
    return (
        "UPDATE eval_items SET status = :status, accepted_by = :by, accepted_at = :at,"
        " expected = :expected, assertions = :assertions, reference = :reference"
        " WHERE item_id = :id",
        {
            "status": status,
            "by": by,
            "at": utc_now(),
            "expected": expected if expected is not None else current.get("expected"),
            "assertions": dumps(assertions or current.get("assertions") or []),
            "reference": reference if reference is not None else current.get("reference"),
            "id": current["item_id"],
        },
    )


def set_status(
    store: Store,
    item_id: str,
    status: str,
    *,
    by: str,
    expected: str | None = None,
    assertions: Sequence[Mapping[str, Any]] = (),
    reference: str | None = None,
) -> dict[str, Any]:
    """Accept (with an expected property) or reject a candidate; accepting needs a property.

    The expected property is an assertion list, or a sentence a judge grades against
    (``llm-rubric``); either is enough. A reference replaces the user's edit when given.
    """
    if status not in ("accepted", "rejected"):
        raise ValueError("status: must be accepted or rejected")
    current = item(store, item_id)
    checked = [dict(spec) for spec in assertions]
    store.transaction([_decision(current, status, by, expected, checked, reference)])
    return item(store, str(current["item_id"]))


def _resolve_many(store: Store, references: Sequence[str]) -> dict[str, dict[str, Any] | str]:
    """Each reference's item (full ID or unique 6+ character prefix), or why not: two queries
    per 500 references, however many there are."""
    wanted = list(dict.fromkeys(references))
    found: dict[str, dict[str, Any] | str] = {}
    for chunk in _chunks(wanted):
        marks, params = _in_clause(chunk)
        for row in store.fetch_all(f"SELECT * FROM eval_items WHERE item_id IN ({marks})", params):
            found[str(row["item_id"])] = plain(row, JSON_COLUMNS)
    prefixes = [ref for ref in wanted if ref not in found and len(ref) >= 6]
    candidates: list[dict[str, Any]] = []
    for chunk in _chunks(sorted({ref[:6] for ref in prefixes})):
        marks, params = _in_clause(chunk)
        candidates += store.fetch_all(
            f"SELECT * FROM eval_items WHERE substr(item_id, 1, 6) IN ({marks})", params
        )
    for ref in wanted:
        if ref in found:
            continue
        matching = [row for row in candidates if str(row["item_id"]).startswith(ref)]
        if len(matching) == 1 and len(ref) >= 6:
            found[ref] = plain(matching[0], JSON_COLUMNS)
        elif len(matching) > 1:
            found[ref] = f"item: {ref!r} is the start of more than one item ID"
        else:
            found[ref] = f"no dataset item {ref}"
    return {ref: found[ref] for ref in wanted}


def decide_many(
    store: Store,
    references: Sequence[str],
    status: str,
    *,
    by: str,
    expected: str | None = None,
    assertions: Sequence[Mapping[str, Any]] = (),
    reference: str | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Accept or reject many items in one transaction; each one that cannot be is reported
    (the others are stored)."""
    if status not in ("accepted", "rejected"):
        raise ValueError("status: must be accepted or rejected")
    checked = [dict(spec) for spec in assertions]
    resolved = _resolve_many(store, references)
    statements, decided, errors = [], [], []
    for ref, current in resolved.items():
        if isinstance(current, str):
            errors.append({"item_id": ref, "message": current})
            continue
        try:
            statements.append(_decision(current, status, by, expected, checked, reference))
        except ValueError as exc:
            errors.append({"item_id": ref, "message": str(exc)})
            continue
        decided.append(str(current["item_id"]))
    if statements:
        store.transaction(statements)
    after = _resolve_many(store, decided)
    return [row for row in after.values() if isinstance(row, dict)], errors


def candidates_for_interaction(store: Store, interaction_id: str) -> list[dict[str, Any]]:
    """Dataset items (any status) built from one interaction, newest dataset version first."""
    rows = store.fetch_all(
        "SELECT * FROM eval_items WHERE source_interaction_id = :id "
        "ORDER BY created_at DESC, dataset, version DESC",
        {"id": interaction_id},
    )
    return [plain(row, JSON_COLUMNS) for row in rows]


def accept_candidate(
    store: Store,
    item_id: str,
    *,
    expected: str | None,
    reference: str | None,
    accepted_by: str,
) -> None:
    """Accept one candidate with an expected property (a rubric sentence or JSON assertions).

    ``expected`` starting with ``[`` or ``{`` is read as promptfoo assertion(s).
    """
    assertions: list[dict[str, Any]] = []
    if expected is not None and expected.strip()[:1] in ("[", "{"):
        parsed = loads(expected)
        if isinstance(parsed, dict):
            parsed = [parsed]
        if not isinstance(parsed, list) or not all(isinstance(p, dict) for p in parsed):
            raise ValueError("expected: JSON must be an assertion object or a list of them")
        assertions, expected = parsed, None
    found = item(store, item_id)
    if found["status"] == "rejected" and not (expected or assertions):
        raise ConflictError(f"item {item_id} was rejected; give an expected property to accept")
    set_status(
        store,
        item_id,
        "accepted",
        by=accepted_by,
        expected=expected,
        assertions=assertions,
        reference=reference,
    )
