"""Rates per prompt version x feature (x A/B variant) x time bucket, with honest statistics.

Every rate is the share of the slice's interactions with at least one such event, so its
denominator is all interactions in the slice (not just those that got feedback), and it
carries a 95% Wilson interval. Explicit-feedback rates are reported with the response rate
next to them: explicit feedback is a biased sample of extremes.

Composite quality score (0-100, higher is better), documented in docs/metrics.md::

    E = 4 x response_rate                       # explicit evidence counts as far as it reaches
    bad = (3 x regeneration + 2 x abandonment + 2 x follow_up + 1 x edit
           + E x negative_share_of_responses) / (8 + E)
    quality_score = 100 x (1 - bad)

Implicit signals cover every interaction, so they carry the weight; the explicit term is
the negative share *among interactions that got explicit feedback*, weighted by how much of
the traffic responded (at a 5% response rate it weighs 0.2 against the implicit 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from promptloop.analytics.queries import (
    NEGATIVE_CONDITION,
    InteractionFilter,
    _quoted,
    rollup_condition,
    rollup_count,
    semi_join,
)
from promptloop.analytics.stats import wilson
from promptloop.core.enums import EXPLICIT_TYPES
from promptloop.store.base import Store

Bucket = Literal["hour", "day", "week"]
SLICE_COLUMNS = ("feature", "prompt_name", "prompt_version", "model")

# name -> (predicate on a feedback event f, lower_is_better)
RATES: dict[str, tuple[str, bool]] = {
    "thumbs_down": ("f.feedback_type = 'thumbs_down'", True),
    "thumbs_up": ("f.feedback_type = 'thumbs_up'", False),
    "regeneration": ("f.feedback_type = 'regenerate'", True),
    "edit": ("f.feedback_type = 'edit'", True),
    "copy": ("f.feedback_type = 'copy'", False),
    "abandonment": ("f.feedback_type = 'abandon'", True),
    "follow_up": ("f.feedback_type = 'follow_up'", True),
    "negative": (NEGATIVE_CONDITION, True),
    "response": (f"f.feedback_type IN ({_quoted(EXPLICIT_TYPES)})", False),
}
# Per-interaction combinations: a copy of untouched output (no edit event, not flagged edited).
_COPY_UNEDITED = "f.feedback_type = 'copy' AND coalesce(f.metadata->>'edited', 'false') <> 'true'"
EXPLICIT_RATES = ("thumbs_down", "thumbs_up", "negative")
LOWER_IS_BETTER = {name for name, (_, lower) in RATES.items() if lower}
ALL_RATES = (*RATES, "copy_without_edit")

QUALITY_WEIGHTS = {"regeneration": 3.0, "abandonment": 2.0, "follow_up": 2.0, "edit": 1.0}
EXPLICIT_WEIGHT_PER_RESPONSE = 4.0


@dataclass(frozen=True)
class Slicing:
    """How to cut the traffic: by which columns, an optional A/B metadata key, a bucket."""

    by: Sequence[str] = ("feature", "prompt_name", "prompt_version")
    variant_key: str | None = None
    bucket: Bucket | None = None

    def __post_init__(self) -> None:
        unknown = set(self.by) - set(SLICE_COLUMNS)
        if unknown:
            raise ValueError(f"by must be among {', '.join(SLICE_COLUMNS)}; got {sorted(unknown)}")
        if self.bucket not in (None, "hour", "day", "week"):
            raise ValueError("bucket must be hour, day or week")
        if self.variant_key is not None and not self.variant_key.replace("_", "").isalnum():
            raise ValueError("variant_key must be a metadata key of letters, digits and '_'")

    def select(self, alias: str = "l") -> list[tuple[str, str]]:
        """(SQL expression over the interaction ``alias``, output name) per slicing key."""
        keys = [(f"{alias}.{column}", column) for column in self.by]
        if self.variant_key:
            keys.append((f"{alias}.metadata->>'{self.variant_key}'", "variant"))
        if self.bucket:
            keys.append((f"date_trunc('{self.bucket}', {alias}.timestamp)", "bucket"))
        return keys


def _flag_sql() -> str:
    flags = [
        f"max(CASE WHEN {predicate} THEN 1 ELSE 0 END) AS {name}"
        for name, (predicate, _) in RATES.items()
    ]
    flags.append(f"max(CASE WHEN {_COPY_UNEDITED} THEN 1 ELSE 0 END) AS copy_unedited")
    return ",\n               ".join(flags)


def rate_metrics(
    store: Store, filters: InteractionFilter | None = None, slicing: Slicing | None = None
) -> list[dict[str, Any]]:
    """One row per slice: volume, every rate with its interval, latency, tokens, cost."""
    slicing = slicing or Slicing()
    on_rollup = None if slicing.variant_key else rollup_condition(store, filters)
    if on_rollup is not None:
        return _rate_metrics_on_rollup(store, *on_rollup, slicing)
    condition, params = (filters or InteractionFilter()).where()
    keys = slicing.select()
    key_select = ", ".join(f"{expr} AS {name}" for expr, name in keys)
    grouping = ""
    if keys:
        grouping = f"GROUP BY {', '.join(expr for expr, _ in keys)} ORDER BY " + ", ".join(
            f"{name} NULLS LAST" for _, name in keys
        )
    sums = ",\n           ".join(
        [f"sum(coalesce(s.{name}, 0)) AS {name}" for name in RATES]
        + [
            "sum(CASE WHEN s.copy_unedited = 1 AND coalesce(s.edit, 0) = 0 THEN 1 ELSE 0 END)"
            " AS copy_without_edit",
            "sum(CASE WHEN s.negative = 1 AND s.response = 1 THEN 1 ELSE 0 END)"
            " AS negative_responses",
        ]
    )
    rows = store.fetch_all(
        f"""
        WITH scoped AS (SELECT * FROM llm_interaction_logs l WHERE {condition}),
        signals AS (
            SELECT f.interaction_id, {_flag_sql()}
            FROM feedback_events f
            {semi_join(condition)}
            GROUP BY f.interaction_id
        )
        SELECT {key_select}{"," if key_select else ""}
           count(*) AS interactions,
           {sums},
           sum(CASE WHEN l.error IS NOT NULL THEN 1 ELSE 0 END) AS errors,
           avg(l.latency_ms) AS latency_mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l.latency_ms) AS latency_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY l.latency_ms) AS latency_p95,
           avg(l.input_tokens) AS input_tokens_mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l.input_tokens) AS input_tokens_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY l.input_tokens) AS input_tokens_p95,
           avg(l.output_tokens) AS output_tokens_mean,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY l.output_tokens) AS output_tokens_median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY l.output_tokens) AS output_tokens_p95,
           sum(l.cost_usd) AS cost_total,
           avg(l.cost_usd) AS cost_mean,
           min(l.timestamp) AS first_seen,
           max(l.timestamp) AS last_seen
        FROM scoped l LEFT JOIN signals s ON s.interaction_id = l.interaction_id
        {grouping}
        """,
        params,
    )
    return [_shape(row, [name for _, name in keys]) for row in rows]


# RATES on the rollup: the first_*_at column that is set iff the interaction had such an event.
ROLLUP_RATES = {
    "thumbs_down": "first_thumbs_down_at",
    "thumbs_up": "first_thumbs_up_at",
    "regeneration": "first_regenerate_at",
    "edit": "first_edit_at",
    "copy": "first_copy_at",
    "abandonment": "first_abandon_at",
    "follow_up": "first_follow_up_at",
    "negative": "first_negative_at",
    "response": "first_response_at",
}


def _quantiles(column: str, name: str, dialect: str) -> str:
    """``{name}_median`` and ``{name}_p95`` of ``s.{column}`` (exact, interpolated)."""
    if dialect == "duckdb":
        # One sort for both: DuckDB evaluates the identical aggregate once.
        both = f"quantile_cont(s.{column}, [0.5, 0.95])"
        return f"{both}[1] AS {name}_median, {both}[2] AS {name}_p95"
    return (
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY s.{column}) AS {name}_median, "
        f"percentile_cont(0.95) WITHIN GROUP (ORDER BY s.{column}) AS {name}_p95"
    )


# Seconds from the epoch to the start of a bucket; weeks start on Monday (1970-01-05 was).
_BUCKET_SECONDS = {"hour": (3600, 0), "day": (86400, 0), "week": (604800, 345600)}


def _bucket(bucket: str, dialect: str) -> str:
    """``date_trunc(bucket, s.timestamp)`` in UTC. DuckDB's date_trunc on TIMESTAMPTZ goes
    through ICU calendars (slow per row); epoch arithmetic gives the same instants."""
    if dialect != "duckdb":
        return f"date_trunc('{bucket}', s.timestamp)"
    size, offset = _BUCKET_SECONDS[bucket]
    epoch = "extract(epoch FROM s.timestamp)"
    if offset:
        return f"to_timestamp(floor(({epoch} - {offset}) / {size}) * {size} + {offset})"
    return f"to_timestamp(floor({epoch} / {size}) * {size})"


def _measures(dialect: str) -> str:
    return f"""
           sum(s.has_error) AS errors,
           avg(s.latency_ms) AS latency_mean, {_quantiles("latency_ms", "latency", dialect)},
           avg(s.input_tokens) AS input_tokens_mean,
           {_quantiles("input_tokens", "input_tokens", dialect)},
           avg(s.output_tokens) AS output_tokens_mean,
           {_quantiles("output_tokens", "output_tokens", dialect)},
           sum(s.cost_usd) AS cost_total,
           avg(s.cost_usd) AS cost_mean,
           min(s.timestamp) AS first_seen,
           max(s.timestamp) AS last_seen"""


def _rate_metrics_on_rollup(
    store: Store, condition: str, params: dict[str, Any], slicing: Slicing
) -> list[dict[str, Any]]:
    """``rate_metrics`` from one narrow rollup row per interaction (no join with events)."""
    keys = [(expr, name) for expr, name in slicing.select("s") if name != "bucket"]
    if slicing.bucket:
        keys.append((_bucket(slicing.bucket, store.dialect), "bucket"))
    key_select = "".join(f"{expr} AS {name}, " for expr, name in keys)
    grouping = ""
    if keys:
        grouping = f"GROUP BY {', '.join(expr for expr, _ in keys)} ORDER BY " + ", ".join(
            f"{name} NULLS LAST" for _, name in keys
        )
    sums = ",\n           ".join(
        [f"{rollup_count(column)} AS {name}" for name, column in ROLLUP_RATES.items()]
        + [
            f"{rollup_count('first_copy_unedited_at', unless='first_edit_at')}"
            " AS copy_without_edit",
            "sum(CASE WHEN s.first_negative_at IS NOT NULL"
            " AND s.first_response_at IS NOT NULL THEN 1 ELSE 0 END) AS negative_responses",
        ]
    )
    rows = store.fetch_all(
        f"""
        SELECT {key_select}count(*) AS interactions,
           {sums},{_measures(store.dialect)}
        FROM interaction_signals s
        WHERE {condition}
        {grouping}
        """,
        params,
    )
    return [_shape(row, [name for _, name in keys]) for row in rows]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _shape(row: dict[str, Any], key_names: list[str]) -> dict[str, Any]:
    total = int(row["interactions"])
    rates = {name: wilson(int(row[name] or 0), total).as_dict() for name in ALL_RATES}
    responded = int(row["response"] or 0)
    out: dict[str, Any] = {name: row[name] for name in key_names}
    out["interactions"] = total
    out["rates"] = rates
    out["response_rate"] = rates["response"]["rate"]
    out["negative_share_of_responses"] = wilson(
        int(row["negative_responses"] or 0), responded
    ).as_dict()
    out["errors"] = wilson(int(row["errors"] or 0), total).as_dict()
    for group in ("latency", "input_tokens", "output_tokens"):
        out[group] = {stat: _number(row[f"{group}_{stat}"]) for stat in ("mean", "median", "p95")}
    out["cost"] = {"total": _number(row["cost_total"]), "mean": _number(row["cost_mean"])}
    out["first_seen"], out["last_seen"] = row["first_seen"], row["last_seen"]
    out["quality_score"] = quality_score(out)
    return out


def quality_score(metrics: dict[str, Any]) -> float | None:
    """The composite score of a shaped metrics row (see the module docstring)."""
    rates = metrics["rates"]
    if not metrics["interactions"]:
        return None
    response = rates["response"]["rate"] or 0.0
    explicit_weight = EXPLICIT_WEIGHT_PER_RESPONSE * response
    negative_share = metrics["negative_share_of_responses"]["rate"] or 0.0
    bad = sum(weight * (rates[name]["rate"] or 0.0) for name, weight in QUALITY_WEIGHTS.items())
    bad += explicit_weight * negative_share
    total_weight = sum(QUALITY_WEIGHTS.values()) + explicit_weight
    return round(100.0 * (1.0 - bad / total_weight), 2)
