"""Compare prompt versions (or A/B variants) on one feature, and say what it means.

For each rate, every group is compared with the baseline (the oldest version, or the one
named): the difference in percentage points with a 95% Newcombe interval and a two-sided
two-proportion z-test; with more than one test, p-values are Holm-adjusted across all of
them. Each comparison gets a plain verdict:

- significant: "1.5.0 lowers regeneration from 12.1% to 8.0%, -4.1 pp [-5.2, -3.0]"
- not significant, too little data to see the observed (or, if none, a 20% relative)
  change: "not enough data: need ~N more interactions per version"
- not significant with enough data: "no significant difference in regeneration (...)"

When the registry has deployments of the versions' prompt to ``production``, each version
is judged only on the interactions logged while production pointed at it (so a canary or a
staging run before promotion does not mix in); the windows are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from promptloop.analytics.metrics import ALL_RATES, LOWER_IS_BETTER, Slicing, rate_metrics
from promptloop.analytics.queries import InteractionFilter
from promptloop.analytics.stats import difference, holm, sample_size_per_group, wilson
from promptloop.core.records import as_utc
from promptloop.prompts.registry import PromptRegistry
from promptloop.store.base import Store

DEFAULT_RATES = (
    "regeneration",
    "thumbs_down",
    "edit",
    "copy_without_edit",
    "abandonment",
    "follow_up",
)
MINIMUM_RELATIVE_CHANGE = 0.2  # what "enough data" must be able to detect when no change shows
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime | None


def production_windows(
    store: Store, prompt_name: str, label: str = "production"
) -> dict[str, list[Window]]:
    """For each version, the periods during which ``label`` pointed at it."""
    moves = PromptRegistry(store).deployments(prompt_name, label=label)
    windows: dict[str, list[Window]] = {}
    ends: list[datetime | None] = [move.timestamp for move in moves[1:]]
    for current, end in zip(moves, [*ends, None], strict=False):
        windows.setdefault(current.to_version, []).append(Window(current.timestamp, end))
    return windows


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} pp".replace("+-", "-")


def _verdict(
    metric: str, base: str, other: str, diff: dict[str, Any], adjusted_p: float
) -> tuple[str, str, int | None]:
    """(verdict kind, sentence, more interactions needed per group)."""
    a, b = diff["a"], diff["b"]
    name = metric.replace("_", " ")
    interval = f"[{100 * diff['low']:.1f}, {100 * diff['high']:.1f}]"
    if adjusted_p < SIGNIFICANCE and diff["diff"] is not None:
        verb = "lowers" if diff["diff"] < 0 else "raises"
        better = (diff["diff"] < 0) == (metric in LOWER_IS_BETTER)
        sentence = (
            f"{other} {verb} {name} from {_pct(a['rate'])} to {_pct(b['rate'])}, "
            f"{_pp(diff['diff'])} {interval}"
        )
        return ("better" if better else "worse"), sentence, None
    p_a = a["rate"] or 0.0
    p_b = b["rate"] if b["rate"] is not None and b["rate"] != p_a else None
    if p_b is None:
        p_b = p_a * (1 + MINIMUM_RELATIVE_CHANGE) if p_a > 0 else 0.01
    needed = sample_size_per_group(p_a, min(p_b, 0.999))
    have = min(a["n"], b["n"])
    if needed is not None and have < needed:
        more = needed - have
        return (
            "insufficient",
            f"{name}: not enough data ({_pct(a['rate'])} vs {_pct(b['rate'])}): "
            f"need ~{more:,} more interactions per version",
            more,
        )
    return (
        "no_difference",
        f"no significant difference in {name} between {base} and {other} "
        f"({_pct(a['rate'])} vs {_pct(b['rate'])}, {_pp(diff['diff'])} {interval})",
        None,
    )


def compare(
    store: Store,
    *,
    feature: str,
    versions: list[str] | None = None,
    variant_key: str | None = None,
    baseline: str | None = None,
    rates: tuple[str, ...] = DEFAULT_RATES,
    since: datetime | None = None,
    until: datetime | None = None,
    bound_by_deployments: bool = True,
) -> dict[str, Any]:
    """Compare groups of one feature's traffic: prompt versions, or values of a metadata key."""
    unknown = set(rates) - set(ALL_RATES)
    if unknown:
        raise ValueError(f"unknown rate(s): {', '.join(sorted(unknown))}")
    groups = _group_metrics(
        store, feature, versions, variant_key, since, until, bound_by_deployments
    )
    if len(groups) < 2:
        raise ValueError(f"need at least two groups to compare on {feature!r}, found {len(groups)}")
    names = list(groups)
    base = baseline or names[0]
    if base not in groups:
        raise ValueError(f"baseline {base!r} is not among {', '.join(names)}")
    tests = []
    for other in (n for n in names if n != base):
        for metric in rates:
            a, b = groups[base]["rates"][metric], groups[other]["rates"][metric]
            tests.append((other, metric, difference(a["count"], a["n"], b["count"], b["n"])))
    adjusted = holm([t[2].p_value if t[2].p_value is not None else 1.0 for t in tests])
    comparisons = []
    for (other, metric, diff), p_adj in zip(tests, adjusted, strict=True):
        shaped = diff.as_dict()
        kind, sentence, more = _verdict(metric, base, other, shaped, p_adj)
        comparisons.append(
            {
                "group": other,
                "baseline": base,
                "metric": metric,
                **shaped,
                "p_adjusted": p_adj,
                "verdict": kind,
                "summary": sentence,
                "more_interactions_needed": more,
            }
        )
    return {
        "feature": feature,
        "grouped_by": f"metadata.{variant_key}" if variant_key else "prompt_version",
        "baseline": base,
        "groups": groups,
        "comparisons": comparisons,
        "correction": "holm" if len(tests) > 1 else "none",
    }


def _group_metrics(
    store: Store,
    feature: str,
    versions: list[str] | None,
    variant_key: str | None,
    since: datetime | None,
    until: datetime | None,
    bound: bool,
) -> dict[str, dict[str, Any]]:
    base_filter = InteractionFilter(feature=feature, since=since, until=until)
    if variant_key:
        rows = rate_metrics(store, base_filter, Slicing(by=(), variant_key=variant_key))
        return {str(r["variant"]): r for r in rows if r["variant"] is not None}
    rows = rate_metrics(store, base_filter, Slicing(by=("prompt_name", "prompt_version")))
    wanted = [
        r for r in rows if r["prompt_version"] and (not versions or r["prompt_version"] in versions)
    ]
    groups: dict[str, dict[str, Any]] = {}
    for row in sorted(wanted, key=lambda r: r["first_seen"]):
        windows = (
            production_windows(store, row["prompt_name"]) if bound and row["prompt_name"] else {}
        )
        bounded = _within_windows(store, base_filter, row, windows.get(row["prompt_version"]))
        groups[str(row["prompt_version"])] = bounded
    return groups


def _within_windows(
    store: Store, base: InteractionFilter, row: dict[str, Any], windows: list[Window] | None
) -> dict[str, Any]:
    if not windows:
        return {**row, "windows": None}
    merged: dict[str, Any] | None = None
    parts = []
    for window in windows:
        scoped = replace(
            base,
            prompt_version=row["prompt_version"],
            prompt_name=row["prompt_name"],
            since=max(filter(None, [base.since, window.start]), key=as_utc),
            until=min(filter(None, [base.until, window.end]), key=as_utc, default=None),
        )
        found = rate_metrics(store, scoped, Slicing(by=()))
        parts.extend(found)
    merged = _merge(parts) if parts else {**row, "interactions": 0}
    merged["windows"] = [{"start": w.start, "end": w.end} for w in windows]
    merged["prompt_name"], merged["prompt_version"] = row["prompt_name"], row["prompt_version"]
    return merged


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else max(as_utc(a), as_utc(b))


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return b if a is None else a
    return min(as_utc(a), as_utc(b))


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up rate counts of several windows (a version deployed twice)."""
    if len(parts) == 1:
        return dict(parts[0])
    total = sum(p["interactions"] for p in parts)
    merged = dict(parts[0])
    merged["interactions"] = total
    merged["rates"] = {
        name: wilson(sum(p["rates"][name]["count"] for p in parts), total).as_dict()
        for name in parts[0]["rates"]
    }
    merged["response_rate"] = merged["rates"]["response"]["rate"]
    return merged
