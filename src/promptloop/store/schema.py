"""Versioned schema migrations, one list per dialect.

A migration is applied once, in order, inside a transaction, and recorded in
``promptloop_schema_migrations``. Never edit a released migration: add a new one.
Table and column names follow the seed's interfaces in snake_case so that SQL written
against the seed's schema runs unchanged.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from promptloop.store import rollup
from promptloop.store.clickhouse_schema import from_portable as _clickhouse

MIGRATIONS_TABLE = "promptloop_schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: dict[str, tuple[str, ...]]  # dialect -> statements


def _interactions_ddl(text: str, json_type: str, double: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS llm_interaction_logs (
    interaction_id {text} PRIMARY KEY,
    session_id {text},
    user_id {text},
    feature {text},
    prompt_name {text},
    prompt_version {text},
    prompt_hash {text},
    model {text},
    system_prompt {text},
    user_input {text},
    raw_output {text},
    input_tokens INTEGER,
    output_tokens INTEGER,
    latency_ms {double},
    timestamp TIMESTAMPTZ NOT NULL,
    metadata {json_type},
    parent_interaction_id {text},
    trace_id {text},
    span_id {text},
    error {text},
    cost_usd {double},
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""


def _feedback_ddl(text: str, json_type: str, double: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS feedback_events (
    feedback_id {text} PRIMARY KEY,
    interaction_id {text} NOT NULL,
    feedback_type {text} NOT NULL,
    category {text},
    value {double},
    user_edit {text},
    comment {text},
    source {text} NOT NULL,
    related_interaction_id {text},
    metadata {json_type},
    timestamp TIMESTAMPTZ NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""


# PostgreSQL gets a B-tree index per access pattern of the seed. DuckDB filters and
# aggregates by scanning with min-max zonemaps, and its ART indexes only pay off for point
# lookups (and slow bulk inserts), so it gets the lookup indexes only.
_POSTGRES_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_logs_prompt_version_ts"
    " ON llm_interaction_logs (prompt_version, timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_logs_feature_ts ON llm_interaction_logs (feature, timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_logs_session_ts ON llm_interaction_logs (session_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_logs_ts ON llm_interaction_logs (timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_feedback_type_ts ON feedback_events (feedback_type, timestamp)",
    "CREATE INDEX IF NOT EXISTS ix_feedback_interaction ON feedback_events (interaction_id)",
)
# ClickHouse (clickhouse_schema.py): the sorting keys serve feature/version/type and time;
# the other patterns become data-skipping indexes, plus a bloom filter for ID look-ups.
_CLICKHOUSE_INDEXES = (
    *_POSTGRES_INDEXES,
    "CREATE INDEX IF NOT EXISTS ix_logs_id ON llm_interaction_logs (interaction_id)",
)
_DUCKDB_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_logs_session ON llm_interaction_logs (session_id)",
    "CREATE INDEX IF NOT EXISTS ix_feedback_interaction ON feedback_events (interaction_id)",
)


def _prompt_registry_ddl(text: str, json_type: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE IF NOT EXISTS prompt_versions (
    prompt_name {text} NOT NULL,
    version {text} NOT NULL,
    prompt_hash {text} NOT NULL,
    template {text} NOT NULL,
    settings {json_type},
    variables {json_type},
    rationale {text} NOT NULL,
    failure_mode {text},
    evidence {json_type},
    author {text},
    source {text} NOT NULL,
    commit_sha {text},
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (prompt_name, version),
    UNIQUE (prompt_name, prompt_hash)
)""",
        f"""
CREATE TABLE IF NOT EXISTS prompt_labels (
    prompt_name {text} NOT NULL,
    label {text} NOT NULL,
    version {text} NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by {text},
    PRIMARY KEY (prompt_name, label)
)""",
        f"""
CREATE TABLE IF NOT EXISTS prompt_deployments (
    deployment_id {text} PRIMARY KEY,
    prompt_name {text} NOT NULL,
    label {text} NOT NULL,
    from_version {text},
    to_version {text} NOT NULL,
    action {text} NOT NULL,
    actor {text},
    reason {text},
    timestamp TIMESTAMPTZ NOT NULL
)""",
        "CREATE INDEX IF NOT EXISTS ix_prompt_versions_hash ON prompt_versions (prompt_hash)",
        "CREATE INDEX IF NOT EXISTS ix_deployments_name_ts"
        " ON prompt_deployments (prompt_name, timestamp)",
    )


def _signals_ddl(text: str, json_type: str, double: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE IF NOT EXISTS edit_analyses (
    feedback_id {text} PRIMARY KEY,
    interaction_id {text} NOT NULL,
    feedback_type {text} NOT NULL,
    edit_distance_ratio {double} NOT NULL,
    chars_added INTEGER NOT NULL,
    chars_removed INTEGER NOT NULL,
    words_added INTEGER NOT NULL,
    words_removed INTEGER NOT NULL,
    original_chars INTEGER NOT NULL,
    edited_chars INTEGER NOT NULL,
    length_change INTEGER NOT NULL,
    direction {text} NOT NULL,
    spans {json_type},
    computed_at TIMESTAMPTZ NOT NULL
)""",
        f"""
CREATE TABLE IF NOT EXISTS signal_job_state (
    job {text} PRIMARY KEY,
    watermark TIMESTAMPTZ,
    last_now TIMESTAMPTZ,
    last_run_at TIMESTAMPTZ NOT NULL
)""",
        "CREATE INDEX IF NOT EXISTS ix_edit_analyses_interaction ON edit_analyses (interaction_id)",
    )


def _alerts_ddl(text: str, json_type: str, double: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE IF NOT EXISTS alerts (
    alert_id {text} PRIMARY KEY,
    rule_id {text} NOT NULL,
    metric {text} NOT NULL,
    scope_kind {text} NOT NULL,
    feature {text},
    prompt_version {text},
    status {text} NOT NULL,
    method {text} NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    window_start TIMESTAMPTZ,
    window_end TIMESTAMPTZ,
    baseline_rate {double},
    baseline_n INTEGER,
    observed_rate {double},
    observed_n INTEGER,
    statistic {double},
    threshold {double},
    evidence {json_type},
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by {text},
    ack_note {text},
    resolved_at TIMESTAMPTZ,
    notified_at TIMESTAMPTZ,
    notify_error {text}
)""",
        "CREATE INDEX IF NOT EXISTS ix_alerts_rule_status ON alerts (rule_id, status)",
    )


def _clusters_ddl(text: str, json_type: str, double: str) -> tuple[str, ...]:
    return (
        f"""
CREATE TABLE IF NOT EXISTS failure_clusters (
    cluster_id {text} PRIMARY KEY,
    run_id {text} NOT NULL,
    kind {text} NOT NULL,
    feature {text},
    label {text} NOT NULL,
    top_terms {json_type},
    size INTEGER NOT NULL,
    representative_ids {json_type},
    signal_mix {json_type},
    centroid {json_type},
    embedding {text} NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    active BOOLEAN NOT NULL,
    triage {text},
    triage_suggestion {text},
    triage_evidence {json_type},
    triaged_by {text},
    triaged_at TIMESTAMPTZ,
    triage_note {text},
    stats {json_type}
)""",
        f"""
CREATE TABLE IF NOT EXISTS cluster_members (
    kind {text} NOT NULL,
    interaction_id {text} NOT NULL,
    cluster_id {text} NOT NULL,
    distance {double},
    assigned_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (cluster_id, interaction_id)
)""",
        "CREATE INDEX IF NOT EXISTS ix_cluster_members_interaction"
        " ON cluster_members (interaction_id)",
    )


def _review_ddl(text: str, double: str) -> tuple[str, ...]:
    """Migration 8: the review queue and its labels (docs/review.md)."""
    return (
        f"""
CREATE TABLE IF NOT EXISTS review_items (
    item_id {text} PRIMARY KEY,
    interaction_id {text} NOT NULL,
    rule {text} NOT NULL,
    reasons {text},
    priority {double} NOT NULL,
    sampled BOOLEAN NOT NULL,
    enqueued_at TIMESTAMPTZ NOT NULL,
    status {text} NOT NULL,
    required_labels INTEGER NOT NULL,
    labels_count INTEGER NOT NULL,
    claimed_by {text},
    claim_token {text},
    claimed_at TIMESTAMPTZ,
    claim_expires_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ
)""",
        f"""
CREATE TABLE IF NOT EXISTS review_labels (
    label_id {text} PRIMARY KEY,
    item_id {text} NOT NULL,
    interaction_id {text} NOT NULL,
    reviewer {text} NOT NULL,
    verdict {text} NOT NULL,
    category {text},
    severity {text},
    fixability {text},
    corrected_answer {text},
    notes {text},
    created_at TIMESTAMPTZ NOT NULL,
    duration_ms {double},
    UNIQUE (item_id, reviewer)
)""",
        "CREATE INDEX IF NOT EXISTS ix_review_items_status ON review_items (status, priority)",
        "CREATE INDEX IF NOT EXISTS ix_review_items_interaction ON review_items (interaction_id)",
        "CREATE INDEX IF NOT EXISTS ix_review_labels_interaction ON review_labels (interaction_id)",
    )


def _api_keys_ddl(text: str) -> tuple[str, ...]:
    """API keys (migration 9): only a SHA-256 of each key is kept, never the key itself."""
    return (
        f"""
CREATE TABLE IF NOT EXISTS api_keys (
    key_id {text} PRIMARY KEY,
    name {text} NOT NULL,
    scope {text} NOT NULL,
    key_hash {text} NOT NULL,
    prefix {text} NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
)""",
        "CREATE UNIQUE INDEX IF NOT EXISTS ux_api_keys_hash ON api_keys (key_hash)",
    )


def _evals_ddl(text: str, json_type: str, double: str) -> tuple[str, ...]:
    """Migration 7: eval datasets, their items, runs, results and holdout access (docs/evals.md)."""
    return (
        f"""
CREATE TABLE IF NOT EXISTS eval_datasets (
    name {text} NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by {text},
    query {json_type},
    description {text},
    feature {text},
    holdout_fraction {double} NOT NULL,
    source {text} NOT NULL,
    PRIMARY KEY (name, version)
)""",
        f"""
CREATE TABLE IF NOT EXISTS eval_items (
    item_id {text} PRIMARY KEY,
    dataset {text} NOT NULL,
    version INTEGER NOT NULL,
    item_index INTEGER NOT NULL,
    source_interaction_id {text},
    feature {text},
    prompt_name {text},
    prompt_version {text},
    input {text},
    vars {json_type},
    bad_output {text},
    reference {text},
    feedback_types {text},
    status {text} NOT NULL,
    expected {text},
    assertions {json_type},
    split {text} NOT NULL,
    split_group {text} NOT NULL,
    accepted_by {text},
    accepted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    metadata {json_type}
)""",
        f"""
CREATE TABLE IF NOT EXISTS eval_runs (
    run_id {text} PRIMARY KEY,
    dataset {text},
    dataset_version INTEGER,
    created_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status {text} NOT NULL,
    splits {text} NOT NULL,
    description {text},
    created_by {text},
    config {json_type},
    summary {json_type}
)""",
        f"""
CREATE TABLE IF NOT EXISTS eval_results (
    result_id {text} PRIMARY KEY,
    run_id {text} NOT NULL,
    item_id {text} NOT NULL,
    split {text} NOT NULL,
    prompt_label {text} NOT NULL,
    prompt_name {text},
    prompt_version {text},
    prompt_hash {text},
    provider_id {text} NOT NULL,
    provider_label {text} NOT NULL,
    repeat_index INTEGER NOT NULL,
    output {text},
    error {text},
    passed BOOLEAN NOT NULL,
    score {double} NOT NULL,
    reason {text},
    components {json_type},
    latency_ms {double},
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd {double},
    cached BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
)""",
        f"""
CREATE TABLE IF NOT EXISTS eval_holdout_access (
    access_id {text} PRIMARY KEY,
    dataset {text} NOT NULL,
    version INTEGER NOT NULL,
    kind {text} NOT NULL,
    run_id {text},
    items INTEGER NOT NULL,
    actor {text},
    timestamp TIMESTAMPTZ NOT NULL
)""",
        "CREATE INDEX IF NOT EXISTS ix_eval_items_dataset ON eval_items (dataset, version)",
        "CREATE INDEX IF NOT EXISTS ix_eval_items_source ON eval_items (source_interaction_id)",
        "CREATE INDEX IF NOT EXISTS ix_eval_results_run ON eval_results (run_id)",
        "CREATE INDEX IF NOT EXISTS ix_eval_holdout_dataset ON eval_holdout_access (dataset)",
    )


def _rollup_ddl(dialect: str, text: str, double: str) -> tuple[str, ...]:
    """Migration 6: the per-interaction signal rollup (store/rollup.py), filled from the
    rows already stored (DuckDB scans it with zonemaps; PostgreSQL gets the range indexes);
    and failure_clusters.activated_at, so half-written cluster runs can be told apart."""
    indexes = (
        (
            "CREATE INDEX IF NOT EXISTS ix_signals_version_ts"
            " ON interaction_signals (prompt_version, timestamp)",
            "CREATE INDEX IF NOT EXISTS ix_signals_feature_ts"
            " ON interaction_signals (feature, timestamp)",
            "CREATE INDEX IF NOT EXISTS ix_signals_ts ON interaction_signals (timestamp)",
        )
        if dialect == "postgresql"
        else ()
    )
    # When a cluster run's result was made active (NULL: written by a run killed before its
    # swap; the next run of the scope deletes those). Existing clusters all were.
    clusters = (
        "ALTER TABLE failure_clusters ADD COLUMN IF NOT EXISTS activated_at TIMESTAMPTZ",
        "UPDATE failure_clusters SET activated_at = created_at",
    )
    return (rollup.ddl(text, double), *indexes, rollup.populate_sql(dialect), *clusters)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        version=1,
        name="interaction log and feedback events",
        statements={
            "duckdb": (
                _interactions_ddl("VARCHAR", "JSON", "DOUBLE"),
                _feedback_ddl("VARCHAR", "JSON", "DOUBLE"),
                *_DUCKDB_INDEXES,
            ),
            "postgresql": (
                _interactions_ddl("TEXT", "JSONB", "DOUBLE PRECISION"),
                _feedback_ddl("TEXT", "JSONB", "DOUBLE PRECISION"),
                *_POSTGRES_INDEXES,
            ),
            "clickhouse": _clickhouse(
                (
                    _interactions_ddl("VARCHAR", "JSON", "DOUBLE"),
                    _feedback_ddl("VARCHAR", "JSON", "DOUBLE"),
                    *_CLICKHOUSE_INDEXES,
                )
            ),
        },
    ),
    Migration(
        version=2,
        name="prompt registry: versions, labels, deployments",
        statements={
            "duckdb": _prompt_registry_ddl("VARCHAR", "JSON"),
            "postgresql": _prompt_registry_ddl("TEXT", "JSONB"),
            "clickhouse": _clickhouse(_prompt_registry_ddl("VARCHAR", "JSON")),
        },
    ),
    Migration(
        version=3,
        name="implicit signals: edit analyses and job state",
        statements={
            "duckdb": (
                *_signals_ddl("VARCHAR", "JSON", "DOUBLE"),
                "CREATE INDEX IF NOT EXISTS ix_logs_parent ON llm_interaction_logs"
                " (parent_interaction_id)",
            ),
            "clickhouse": _clickhouse(
                (
                    *_signals_ddl("VARCHAR", "JSON", "DOUBLE"),
                    "CREATE INDEX IF NOT EXISTS ix_logs_parent ON llm_interaction_logs"
                    " (parent_interaction_id)",
                )
            ),
            "postgresql": (
                *_signals_ddl("TEXT", "JSONB", "DOUBLE PRECISION"),
                "CREATE INDEX IF NOT EXISTS ix_logs_parent ON llm_interaction_logs"
                " (parent_interaction_id)",
                "CREATE INDEX IF NOT EXISTS ix_logs_ingested ON llm_interaction_logs (ingested_at)",
                "CREATE INDEX IF NOT EXISTS ix_feedback_ingested ON feedback_events (ingested_at)",
            ),
        },
    ),
    Migration(
        version=4,
        name="alerts on rising rates",
        statements={
            "duckdb": _alerts_ddl("VARCHAR", "JSON", "DOUBLE"),
            "postgresql": _alerts_ddl("TEXT", "JSONB", "DOUBLE PRECISION"),
            "clickhouse": _clickhouse(_alerts_ddl("VARCHAR", "JSON", "DOUBLE")),
        },
    ),
    Migration(
        version=5,
        name="failure clusters and their members",
        statements={
            "duckdb": _clusters_ddl("VARCHAR", "JSON", "DOUBLE"),
            "postgresql": _clusters_ddl("TEXT", "JSONB", "DOUBLE PRECISION"),
            "clickhouse": _clickhouse(_clusters_ddl("VARCHAR", "JSON", "DOUBLE")),
        },
    ),
    Migration(
        version=6,
        name="query-performance rollup: interaction_signals",
        statements={
            "duckdb": _rollup_ddl("duckdb", "VARCHAR", "DOUBLE"),
            "postgresql": _rollup_ddl("postgresql", "TEXT", "DOUBLE PRECISION"),
            # The rollup table exists for parity; ClickHouse analytics read the tables.
            "clickhouse": _clickhouse(_rollup_ddl("duckdb", "VARCHAR", "DOUBLE")),
        },
    ),
    Migration(
        version=7,
        name="evals: datasets, items, runs, results, holdout access",
        statements={
            "duckdb": _evals_ddl("VARCHAR", "JSON", "DOUBLE"),
            "postgresql": _evals_ddl("TEXT", "JSONB", "DOUBLE PRECISION"),
            "clickhouse": _clickhouse(_evals_ddl("VARCHAR", "JSON", "DOUBLE")),
        },
    ),
    Migration(
        version=8,
        name="review queue and annotation labels",
        statements={
            "duckdb": _review_ddl("VARCHAR", "DOUBLE"),
            "postgresql": _review_ddl("TEXT", "DOUBLE PRECISION"),
            "clickhouse": _clickhouse(_review_ddl("VARCHAR", "DOUBLE")),
        },
    ),
    Migration(
        version=9,
        name="API keys with scopes",
        statements={
            "duckdb": _api_keys_ddl("VARCHAR"),
            "postgresql": _api_keys_ddl("TEXT"),
            "clickhouse": _clickhouse(_api_keys_ddl("VARCHAR")),
        },
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def statements_for(migration: Migration, dialect: str) -> tuple[str, ...]:
    """A migration's statements for a dialect; ClickHouse falls back to a translation of the
    portable (DuckDB) statements when a migration has no "clickhouse" variant."""
    if dialect in migration.statements:
        return migration.statements[dialect]
    if dialect == "clickhouse" and "duckdb" in migration.statements:
        return _clickhouse(migration.statements["duckdb"])
    raise KeyError(f"migration {migration.version} ({migration.name}) has no {dialect} statements")


def pending(
    current: int, dialect: str, applied: Collection[int] | None = None
) -> list[tuple[Migration, tuple[str, ...]]]:
    """Migrations to apply, in order. With ``applied`` (the versions recorded in the store),
    a migration numbered below the newest applied one but never applied (numbers were
    assigned up front and merged out of order) is applied too."""
    if applied is not None:
        done = set(applied)
        return [(m, statements_for(m, dialect)) for m in MIGRATIONS if m.version not in done]
    return [(m, statements_for(m, dialect)) for m in MIGRATIONS if m.version > current]
