"""Reading runs back: summaries per matrix cell, run-vs-run comparisons and the CI gate.

A comparison pairs the two sides item by item (an item's outcome is the majority of its
repeats and providers, its score their mean), tests the pass/fail changes with McNemar's
exact test (statsmodels) and the score differences with a paired bootstrap, and lists the
items that flipped. Held-out items count in every number but their text is not shown
unless asked (the holdout stays out of the tuning views).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar

from promptloop.analytics.stats import wilson
from promptloop.evals._rows import loads, plain
from promptloop.exceptions import NotFoundError
from promptloop.store.base import Store

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240611
RUN_JSON = ("config", "summary")
RESULT_JSON = ("components",)


# ---------------------------------------------------------------------- runs


def resolve_run(store: Store, reference: str) -> str:
    """A run ID from its full form or an unambiguous prefix (4+ characters)."""
    reference = reference.strip()
    rows = store.fetch_all("SELECT run_id FROM eval_runs WHERE run_id = :id", {"id": reference})
    if rows:
        return reference
    if len(reference) >= 4:
        rows = store.fetch_all(
            "SELECT run_id FROM eval_runs WHERE run_id LIKE :prefix ORDER BY run_id LIMIT 2",
            {"prefix": reference.replace("%", "").replace("_", "") + "%"},
        )
        if len(rows) > 1:
            raise ValueError(f"run: {reference!r} is the start of more than one run ID")
        if rows:
            return str(rows[0]["run_id"])
    raise NotFoundError(f"no eval run {reference}")


def list_runs(
    store: Store, *, dataset: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    where = "WHERE dataset = :dataset" if dataset else ""
    rows = store.fetch_all(
        f"SELECT * FROM eval_runs {where} ORDER BY created_at DESC, run_id LIMIT :limit",
        {"dataset": dataset, "limit": limit} if dataset else {"limit": limit},
    )
    return [plain(row, RUN_JSON) for row in rows]


def get_run(store: Store, reference: str) -> dict[str, Any]:
    run_id = resolve_run(store, reference)
    rows = store.fetch_all("SELECT * FROM eval_runs WHERE run_id = :id", {"id": run_id})
    return plain(rows[0], RUN_JSON)


def results(
    store: Store, run_id: str, *, include_holdout_text: bool = False
) -> list[dict[str, Any]]:
    """Every result row of a run; held-out items' output and reason are withheld unless asked."""
    rows = store.fetch_all(
        "SELECT r.*, i.input, i.reference, i.source_interaction_id FROM eval_results r "
        "LEFT JOIN eval_items i ON i.item_id = r.item_id "
        "WHERE r.run_id = :id ORDER BY r.item_id, r.prompt_label, r.provider_id, r.repeat_index",
        {"id": run_id},
    )
    found = [plain(row, RESULT_JSON) for row in rows]
    if not include_holdout_text:
        for row in found:
            if row["split"] == "holdout":
                for key in ("output", "reason", "input", "reference", "components"):
                    row[key] = None
                row["hidden"] = True
    return found


# ---------------------------------------------------------------------- summaries


def _cell_key(row: dict[str, Any]) -> tuple[str, str]:
    return str(row["prompt_label"]), str(row["provider_id"])


def _rate(count: int, total: int) -> dict[str, Any]:
    return wilson(count, total).as_dict()


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per matrix cell: pass rate (Wilson interval) overall and per split, mean score,
    per-item pass rate and flip rate over repeats, errors, tokens, cost and latency."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault(_cell_key(row), []).append(row)
    return [_cell_summary(key, members) for key, members in cells.items()]


def _cell_summary(key: tuple[str, str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_item: dict[str, list[bool]] = {}
    for row in rows:
        by_item.setdefault(str(row["item_id"]), []).append(bool(row["passed"]))
    flipped = sum(1 for outcomes in by_item.values() if len(set(outcomes)) > 1)
    latencies = [float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None]
    splits = {}
    for split in ("dev", "holdout"):
        part = [r for r in rows if r["split"] == split]
        splits[split] = _rate(sum(1 for r in part if r["passed"]), len(part))
    return {
        "prompt_label": key[0],
        "provider_id": key[1],
        "provider_label": rows[0].get("provider_label"),
        "prompt_name": rows[0].get("prompt_name"),
        "prompt_version": rows[0].get("prompt_version"),
        "results": len(rows),
        "items": len(by_item),
        "pass_rate": _rate(sum(1 for r in rows if r["passed"]), len(rows)),
        "splits": splits,
        "mean_score": statistics.fmean(float(r["score"]) for r in rows) if rows else None,
        "item_pass_rate": (
            statistics.fmean(sum(o) / len(o) for o in by_item.values()) if by_item else None
        ),
        "flipped_items": flipped,
        "flip_rate": flipped / len(by_item) if by_item else None,
        "errors": sum(1 for r in rows if r.get("error")),
        "cached": sum(1 for r in rows if r.get("cached")),
        "input_tokens": sum(int(r.get("input_tokens") or 0) for r in rows),
        "output_tokens": sum(int(r.get("output_tokens") or 0) for r in rows),
        "cost_usd": sum(float(r.get("cost_usd") or 0.0) for r in rows),
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "metrics": _metric_rates(rows),
    }


def _metric_rates(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pass rate per named assertion (a quality spec property, an assertion's metric)."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        for part in loads(row.get("components")) or []:
            name = part.get("metric") or part.get("type")
            if not name:
                continue
            entry = counts.setdefault(str(name), [0, 0])
            entry[0] += 1 if part.get("passed") else 0
            entry[1] += 1
    return {name: _rate(passed, total) for name, (passed, total) in sorted(counts.items())}


def run_summary(store: Store, run_id: str) -> dict[str, Any]:
    rows = store.fetch_all(
        "SELECT item_id, split, prompt_label, prompt_name, prompt_version, provider_id,"
        " provider_label, passed, score, error, cached, input_tokens, output_tokens, cost_usd,"
        " latency_ms, components FROM eval_results WHERE run_id = :id",
        {"id": run_id},
    )
    cells = summarise(rows)
    return {
        "cells": cells,
        "results": len(rows),
        "items": len({row["item_id"] for row in rows}),
        "holdout_items": len({row["item_id"] for row in rows if row["split"] == "holdout"}),
    }


# ---------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a run, optionally narrowed to one prompt and one provider."""

    run_id: str
    prompt_label: str | None = None
    provider_id: str | None = None

    @property
    def name(self) -> str:
        parts = [self.run_id, self.prompt_label, self.provider_id]
        return "/".join(part for part in parts if part)


def parse_side(store: Store, reference: str) -> Side:
    """``RUN``, ``RUN/PROMPT`` or ``RUN/PROMPT/PROVIDER`` (a prompt label, a provider id).

    Prompt labels and provider ids may themselves contain ``/`` (``support/triage@1.0.0``,
    an http URL), so the part after the run is matched against the run's own cells.
    """
    run, _, rest = reference.partition("/")
    run_id = resolve_run(store, run)
    if not rest:
        return Side(run_id)
    rows = store.fetch_all(
        "SELECT DISTINCT prompt_label, provider_id FROM eval_results WHERE run_id = :id",
        {"id": run_id},
    )
    cells = [(str(row["prompt_label"]), str(row["provider_id"])) for row in rows]
    for prompt, provider in cells:
        if rest == f"{prompt}/{provider}":
            return Side(run_id, prompt, provider)
    if any(prompt == rest for prompt, _ in cells):
        return Side(run_id, rest)
    shown = ", ".join(sorted({f"{run_id}/{p}" for p, _ in cells}))
    raise ValueError(f"side: run {run_id} has no prompt or cell {rest!r}; it has {shown}")


def _side_rows(store: Store, side: Side) -> list[dict[str, Any]]:
    clauses = ["run_id = :run"]
    params: dict[str, Any] = {"run": side.run_id}
    if side.prompt_label:
        clauses.append("prompt_label = :prompt")
        params["prompt"] = side.prompt_label
    if side.provider_id:
        clauses.append("provider_id = :provider")
        params["provider"] = side.provider_id
    rows = store.fetch_all(
        "SELECT item_id, split, prompt_label, provider_id, passed, score, output, reason"
        f" FROM eval_results WHERE {' AND '.join(clauses)}",
        params,
    )
    if not rows:
        raise NotFoundError(f"no results for {side.name}: check the prompt label and provider")
    return rows


def _per_item(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["item_id"]), []).append(row)
    found = {}
    for item_id, members in grouped.items():
        passes = sum(1 for m in members if m["passed"])
        found[item_id] = {
            "passed": passes * 2 > len(members),
            "pass_rate": passes / len(members),
            "score": statistics.fmean(float(m["score"]) for m in members),
            "split": members[0]["split"],
            "reason": next((m["reason"] for m in members if not m["passed"]), None),
            "output": members[0]["output"],
        }
    return found


def paired_bootstrap(
    differences: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, float | None]:
    """Mean paired difference with a 95% percentile interval and a two-sided p-value."""
    values = np.asarray(differences, dtype=float)
    if values.size == 0:
        return {"mean": None, "low": None, "high": None, "p_value": None}
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    means = values[picks].mean(axis=1)
    below = float((means <= 0).mean())
    above = float((means >= 0).mean())
    return {
        "mean": float(values.mean()),
        "low": float(np.percentile(means, 2.5)),
        "high": float(np.percentile(means, 97.5)),
        "p_value": min(1.0, 2 * min(below, above)) if values.any() else 1.0,
    }


def mcnemar_test(fixed: int, broken: int) -> dict[str, Any]:
    """McNemar's test on the discordant pairs (exact binomial below 25 of them)."""
    discordant = fixed + broken
    if discordant == 0:
        return {"method": "mcnemar", "exact": True, "statistic": 0.0, "p_value": 1.0}
    exact = discordant < 25
    result = mcnemar([[0, broken], [fixed, 0]], exact=exact, correction=True)
    return {
        "method": "mcnemar",
        "exact": exact,
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
    }


def compare_runs(
    store: Store,
    baseline: str | Side,
    candidate: str | Side,
    *,
    splits: Sequence[str] = ("dev", "holdout"),
    include_holdout_text: bool = False,
) -> dict[str, Any]:
    """Per-item changes from ``baseline`` to ``candidate`` with McNemar and a paired bootstrap."""
    side_a = parse_side(store, baseline) if isinstance(baseline, str) else baseline
    side_b = parse_side(store, candidate) if isinstance(candidate, str) else candidate
    items_a = _per_item(_side_rows(store, side_a))
    items_b = _per_item(_side_rows(store, side_b))
    shared = sorted(i for i in items_a.keys() & items_b.keys() if items_a[i]["split"] in splits)
    if not shared:
        raise ValueError("compare: the two sides share no items (are they on the same dataset?)")
    counts = {"both_pass": 0, "both_fail": 0, "fixed": 0, "broken": 0}
    changes = []
    for item_id in shared:
        a, b = items_a[item_id], items_b[item_id]
        kind = _change(a["passed"], b["passed"])
        counts[kind] += 1
        if kind in ("fixed", "broken") or abs(b["score"] - a["score"]) > 1e-9:
            changes.append(_change_row(item_id, kind, a, b, include_holdout_text))
    changes.sort(key=lambda c: (c["change"] != "broken", c["change"] != "fixed", c["score_delta"]))
    bootstrap = paired_bootstrap([items_b[i]["score"] - items_a[i]["score"] for i in shared])
    by_split = {
        split: _split_rates([i for i in shared if items_a[i]["split"] == split], items_a, items_b)
        for split in ("dev", "holdout")
    }
    return {
        "baseline": side_a.name,
        "candidate": side_b.name,
        "items": len(shared),
        "baseline_pass_rate": _rate(sum(items_a[i]["passed"] for i in shared), len(shared)),
        "candidate_pass_rate": _rate(sum(items_b[i]["passed"] for i in shared), len(shared)),
        "splits": by_split,
        **counts,
        "mcnemar": mcnemar_test(counts["fixed"], counts["broken"]),
        "score_difference": bootstrap,
        "changes": changes,
        "holdout_warning": _holdout_warning(by_split),
    }


def _change(before: bool, after: bool) -> str:
    if before and after:
        return "both_pass"
    if not before and not after:
        return "both_fail"
    return "fixed" if after else "broken"


def _change_row(
    item_id: str, kind: str, a: dict[str, Any], b: dict[str, Any], show_holdout: bool
) -> dict[str, Any]:
    hidden = a["split"] == "holdout" and not show_holdout
    return {
        "item_id": item_id,
        "split": a["split"],
        "change": kind,
        "baseline_pass_rate": a["pass_rate"],
        "candidate_pass_rate": b["pass_rate"],
        "score_delta": b["score"] - a["score"],
        "baseline_reason": None if hidden else a["reason"],
        "candidate_reason": None if hidden else b["reason"],
        "hidden": hidden,
    }


def _split_rates(
    ids: list[str], items_a: dict[str, dict[str, Any]], items_b: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "items": len(ids),
        "baseline": _rate(sum(items_a[i]["passed"] for i in ids), len(ids)),
        "candidate": _rate(sum(items_b[i]["passed"] for i in ids), len(ids)),
    }


def _holdout_warning(by_split: dict[str, dict[str, Any]]) -> str | None:
    dev, held = by_split["dev"], by_split["holdout"]
    if not dev["items"]:
        return None
    dev_gain = (dev["candidate"]["rate"] or 0.0) - (dev["baseline"]["rate"] or 0.0)
    if dev_gain <= 0:
        return None
    if not held["items"]:
        return "development improved but the holdout was not evaluated: run with --split all"
    held_gain = (held["candidate"]["rate"] or 0.0) - (held["baseline"]["rate"] or 0.0)
    if held_gain < dev_gain / 2:
        return (
            f"development improved by {dev_gain:+.1%} but the holdout by {held_gain:+.1%}: "
            "the change may be tuned to the development items"
        )
    return None


# ---------------------------------------------------------------------- the CI gate


def gate(
    store: Store,
    baseline: str,
    candidate: str,
    *,
    min_pass_rate: float | None = None,
    alpha: float = ALPHA,
    splits: Sequence[str] = ("dev", "holdout"),
) -> dict[str, Any]:
    """Fail when the candidate is significantly worse than the baseline or below a threshold.

    Significantly worse: McNemar's p < ``alpha`` with more items broken than fixed, or the
    paired bootstrap interval of the score difference entirely below zero.
    """
    if min_pass_rate is not None and not 0.0 <= min_pass_rate <= 1.0:
        raise ValueError("min_pass_rate: must be between 0 and 1")
    found = compare_runs(store, baseline, candidate, splits=splits)
    reasons: list[str] = []
    rate = found["candidate_pass_rate"]["rate"] or 0.0
    if min_pass_rate is not None and rate < min_pass_rate:
        reasons.append(
            f"candidate pass rate {rate:.1%} ({found['candidate_pass_rate']['count']}/"
            f"{found['items']}) is below the minimum {min_pass_rate:.1%}"
        )
    test = found["mcnemar"]
    if test["p_value"] < alpha and found["broken"] > found["fixed"]:
        reasons.append(
            f"candidate is significantly worse: {found['broken']} items broken, "
            f"{found['fixed']} fixed (McNemar p={test['p_value']:.4g} < {alpha})"
        )
    scores = found["score_difference"]
    if scores["high"] is not None and scores["high"] < 0:
        reasons.append(
            f"candidate scores lower: mean difference {scores['mean']:+.3f}, 95% interval "
            f"[{scores['low']:+.3f}, {scores['high']:+.3f}] (paired bootstrap)"
        )
    return {
        **found,
        "passed": not reasons,
        "reasons": reasons,
        "alpha": alpha,
        "min_pass_rate": min_pass_rate,
    }
