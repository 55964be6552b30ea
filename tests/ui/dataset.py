"""The dashboard tests' store: the simulated demo, its prompts in the registry with their
deployments, the inferred signals, a few hand-made records (an edit, a regeneration, a
categorised thumbs-down in one session), alerts and failure patterns.

Alerts and clusters are written straight into their tables (schema migrations 4 and 5):
the dashboard reads those tables through ``promptloop.server.ui.sources``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.demo.simulate import load_demo
from promptloop.signals.jobs import SignalJob
from promptloop.store.base import Store

EDITED_ID = "11111111-aaaa-4bbb-8ccc-000000000001"
REGENERATED_ID = "11111111-aaaa-4bbb-8ccc-000000000002"
FOLLOW_ID = "11111111-aaaa-4bbb-8ccc-000000000003"
SESSION = "sess_hand_made_ui_test"
ORIGINAL = (
    "Thanks for reaching out! To export a notebook, open Settings and choose Export All. "
    "The export runs overnight and you will get an email."
)
EDITED = (
    "To export a notebook, open it and choose File > Export, then pick PDF. "
    "The export starts right away."
)
EDIT_INPUT = "How do I export one notebook as a PDF (hand-made)?"
OPEN_ALERT = "alert-open-regeneration"
ACKED_ALERT = "alert-acknowledged-thumbs"
CLUSTERS = ("cluster-export", "cluster-calendar", "cluster-tone")


def build(store: Store, *, interactions: int = 3000, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC).replace(second=0, microsecond=0)
    summary = load_demo(store, interactions=interactions, end=now)
    hand_made(store, now)
    SignalJob(store).run(now=now, full=True)
    alerts(store, now)
    clusters(store, now)
    return summary


def hand_made(store: Store, now: datetime) -> None:
    """One session: an answer the user edited, a regeneration of it, a follow-up."""
    t0 = now - timedelta(hours=3)
    base: dict[str, Any] = {
        "session_id": SESSION,
        "user_id": "u_hand_made",
        "feature": "support_chat",
        "prompt_name": "support_assistant",
        "prompt_version": "2.2.0",
        "model": "gpt-4o-2024-08-06",
        "system_prompt": "You are the Acme Notes support assistant.",
        "input_tokens": 40,
        "output_tokens": 60,
        "latency_ms": 812.0,
    }
    store.insert_interactions(
        [
            Interaction(
                interaction_id=EDITED_ID,
                user_input=EDIT_INPUT,
                raw_output=ORIGINAL,
                timestamp=t0,
                **base,
            ),
            Interaction(
                interaction_id=REGENERATED_ID,
                user_input=EDIT_INPUT,
                raw_output="Open the notebook, then File > Export > PDF.",
                parent_interaction_id=EDITED_ID,
                timestamp=t0 + timedelta(minutes=1),
                **base,
            ),
            Interaction(
                interaction_id=FOLLOW_ID,
                user_input="And can I export all notebooks at once?",
                raw_output="Yes: Settings > Export All creates one archive.",
                timestamp=t0 + timedelta(minutes=3),
                **base,
            ),
        ]
    )
    store.insert_feedback(
        [
            FeedbackEvent(
                feedback_id="fb-hand-down",
                interaction_id=EDITED_ID,
                feedback_type="thumbs_down",
                category="wrong",
                comment="It names a menu that does not exist.",
                source="user",
                timestamp=t0 + timedelta(seconds=30),
            ),
            FeedbackEvent(
                feedback_id="fb-hand-regen",
                interaction_id=EDITED_ID,
                feedback_type="regenerate",
                source="user",
                related_interaction_id=REGENERATED_ID,
                timestamp=t0 + timedelta(seconds=50),
            ),
            FeedbackEvent(
                feedback_id="fb-hand-edit",
                interaction_id=EDITED_ID,
                feedback_type="edit",
                user_edit=EDITED,
                source="user",
                timestamp=t0 + timedelta(minutes=2),
            ),
        ]
    )


def _series(now: datetime, base: float, jump: float) -> list[dict[str, Any]]:
    points = []
    cusum = 0.0
    for k in range(48):
        start = now - timedelta(hours=48 - k)
        n = 60
        rate = base if k < 30 else jump
        events = round(n * rate)
        if k >= 30:
            cusum += 0.9
        points.append(
            {
                "start": start.isoformat(),
                "n": n,
                "events": events,
                "cusum": cusum if k >= 28 else None,
            }
        )
    return points


def alerts(store: Store, now: datetime) -> None:
    insert_alert(
        store,
        OPEN_ALERT,
        now,
        metric="regeneration",
        feature="support_chat",
        version="2.2.0",
        base=0.08,
        observed=0.19,
    )
    insert_alert(
        store,
        ACKED_ALERT,
        now,
        metric="thumbs_down",
        feature="summarize",
        version=None,
        base=0.03,
        observed=0.07,
        status="acknowledged",
        acked_by="pat",
    )


def add_open_alert(store: Store, alert_id: str) -> str:
    """A fresh open alert (for a test that acknowledges one)."""
    store.execute("DELETE FROM alerts WHERE alert_id = :id", {"id": alert_id})
    insert_alert(
        store,
        alert_id,
        datetime.now(UTC),
        metric="edit",
        feature="email_draft",
        version="3.1.0",
        base=0.2,
        observed=0.31,
    )
    return alert_id


def insert_alert(
    store: Store,
    alert_id: str,
    now: datetime,
    *,
    metric: str,
    feature: str,
    version: str | None,
    base: float,
    observed: float,
    status: str = "open",
    acked_by: str | None = None,
) -> None:
    evidence = {
        "method": "bernoulli_cusum",
        "metric": metric,
        "baseline": {"rate": base, "n": 4000},
        "design": {"p0": base, "p1": base * 1.5, "h": 4.2},
        "series": _series(now, base, observed),
    }
    store.execute(
        """
        INSERT INTO alerts (alert_id, rule_id, metric, scope_kind, feature, prompt_version,
            status, method, opened_at, window_start, window_end, baseline_rate, baseline_n,
            observed_rate, observed_n, statistic, threshold, evidence, acknowledged_at,
            acknowledged_by)
        VALUES (:id, :rule, :metric, :scope, :feature, :version, :status, 'bernoulli_cusum',
            :opened, :wstart, :wend, :base, 4000, :observed, 1080, 5.1, 4.2,
            CAST(:evidence AS JSON), :acked_at, :acked_by)
        """,
        {
            "id": alert_id,
            "rule": f"{metric}-by-{'version' if version else 'feature'}",
            "metric": metric,
            "scope": "prompt_version" if version else "feature",
            "feature": feature,
            "version": version,
            "status": status,
            "opened": now - timedelta(hours=10),
            "wstart": now - timedelta(hours=18),
            "wend": now,
            "base": base,
            "observed": observed,
            "evidence": json.dumps(evidence),
            "acked_at": now - timedelta(hours=5) if acked_by else None,
            "acked_by": acked_by,
        },
    )


def clusters(store: Store, now: datetime) -> None:
    """Three failure patterns, with members drawn from interactions that got negative signals."""
    failing = store.fetch_all(
        """
        SELECT DISTINCT l.interaction_id, l.feature FROM llm_interaction_logs l
        JOIN feedback_events f ON f.interaction_id = l.interaction_id
        WHERE f.feedback_type IN ('thumbs_down', 'regenerate', 'report', 'correction', 'edit')
        ORDER BY l.interaction_id
        """
    )
    specs = [
        (
            "cluster-export",
            "Export instructions name menus that do not exist",
            "support_chat",
            ["export", "pdf", "menu"],
            0.5,
        ),
        (
            "cluster-calendar",
            "Calendar sync questions answered for the wrong platform",
            "support_chat",
            ["calendar", "sync", "ios"],
            0.3,
        ),
        (
            "cluster-tone",
            "Email drafts too formal for internal notes",
            "email_draft",
            ["tone", "formal", "email"],
            0.2,
        ),
    ]
    start = 0
    for cluster_id, label, feature, terms, share in specs:
        count = max(3, int(len(failing) * share))
        members = failing[start : start + count]
        start += count
        ids = [m["interaction_id"] for m in members]
        if cluster_id == "cluster-export":
            ids = [EDITED_ID, *ids]
        labels = {
            "wrong": len(ids) // 8,
            "regeneration": len(ids) // 2,
            "thumbs_down": len(ids) // 5,
        }
        stats = {
            "interactions": len(ids),
            "feature_interactions": 1000,
            "window": {"weeks": 4},
            "weeks": [{"interactions": len(ids) // 4} for _ in range(4)],
            "examples": [],
        }
        store.execute(
            """
            INSERT INTO failure_clusters (cluster_id, run_id, kind, feature, label, top_terms, size,
                representative_ids, signal_mix, centroid, embedding, created_at, active,
                triage_suggestion, stats)
            VALUES (:id, 'run-ui-test', 'negative', :feature, :label, CAST(:terms AS JSON),
                :size, CAST(:reps AS JSON), CAST(:mix AS JSON), NULL, 'tfidf', :now, TRUE,
                'prompt_fixable', CAST(:stats AS JSON))
            """,
            {
                "id": cluster_id,
                "feature": feature,
                "label": label,
                "terms": json.dumps([[term, 1.0 / (i + 1)] for i, term in enumerate(terms)]),
                "size": len(ids),
                "reps": json.dumps(ids[:3]),
                "mix": json.dumps({"labels": labels}),
                "now": now,
                "stats": json.dumps(stats),
            },
        )
        store.insert_rows(
            "cluster_members",
            [
                {
                    "kind": "negative",
                    "interaction_id": ident,
                    "cluster_id": cluster_id,
                    "distance": 0.1,
                    "assigned_at": now,
                }
                for ident in ids
            ],
        )
