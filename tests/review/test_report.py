"""The periodic review report on the simulated demo data: its contents, its three renderings
(Markdown, HTML, the dashboard page) and the way from it to one recorded prompt change."""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.demo.simulate import load_demo
from promptloop.prompts import PromptRegistry
from promptloop.review import workflow
from promptloop.review.config import ReviewSettings
from promptloop.review.labels import parse_label
from promptloop.review.render import to_html, to_markdown
from promptloop.review.report import EXPLICIT_WEIGHT, build_report, parse_period
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.cli.conftest import cli
from tests.ui import dataset
from tests.ui.conftest import make_app

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LABELLED_AT = END - timedelta(hours=1)  # inside the report's period
HOSTILE_ID = "00000000-0000-4000-8000-0000000000aa"
HOSTILE = "<script>alert('x')</script> why is export broken?"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("review-demo") / "store.duckdb"
    store = open_store(f"duckdb:///{path}")
    load_demo(store, interactions=3000, end=END)
    dataset.alerts(store, END)
    dataset.clusters(store, END)
    _hostile(store)
    settings = ReviewSettings.model_validate(
        {"double_label_share": 1.0, "rules": {"random_sample": {"rate": 0.02}}}
    )
    workflow.next_item(store, "ann", settings, now=LABELLED_AT)  # fills the queue by the rules
    for reviewer in ("ann", "bob"):
        for _ in range(6):
            view = workflow.next_item(store, reviewer, settings, now=LABELLED_AT)
            assert view is not None
            label = parse_label({"verdict": "bad" if view["feedback"] else "good"})
            workflow.label_item(store, view["item"]["item_id"], reviewer, label, now=LABELLED_AT)
    yield store
    store.close()


def _hostile(store: Store) -> None:
    when = END - timedelta(days=2)
    store.insert_interactions(
        [
            Interaction(
                interaction_id=HOSTILE_ID,
                feature="support_chat",
                prompt_name="support_assistant",
                prompt_version="2.2.0",
                user_input=HOSTILE,
                raw_output="<b>bold</b> answer",
                timestamp=when,
            )
        ]
    )
    store.insert_feedback(
        [
            FeedbackEvent(
                interaction_id=HOSTILE_ID,
                feedback_type=kind,
                category="wrong" if kind == "report" else None,
                timestamp=when + timedelta(minutes=n),
            )
            for n, kind in enumerate(["thumbs_down", "report", "correction", "regenerate"] * 2)
            if kind != "correction"
        ]
    )


@pytest.fixture(scope="module")
def report(demo: Store) -> dict[str, Any]:
    return build_report(demo, period="30d", now=END)


def test_top_twenty_most_flagged_with_their_evidence(report: dict[str, Any]) -> None:
    flagged = report["most_flagged"]
    assert len(flagged) == 20
    scores = [row["score"] for row in flagged]
    assert scores == sorted(scores, reverse=True)
    top = flagged[0]
    assert top["interaction_id"] == HOSTILE_ID  # 4 explicit + 2 implicit: the most flagged
    assert top["score"] == EXPLICIT_WEIGHT * 4 + 2
    for row in flagged:
        explicit = sum(
            1
            for s in row["signals"]
            if s["source"] in ("user", "annotator")
            and (
                s["feedback_type"] in ("thumbs_down", "report", "correction")
                or (s["feedback_type"] == "rating" and s["value"] <= 2)
            )
        )
        assert row["explicit"] == explicit  # every event of the demo falls in the period
        assert row["score"] == EXPLICIT_WEIGHT * row["explicit"] + row["implicit"]
        assert row["user_input"] and row["prompt_version"]


def test_patterns_alerts_versions_and_holdout(report: dict[str, Any]) -> None:
    assert [(p["rank"], p["cluster_id"]) for p in report["patterns"]] == [
        (1, "cluster-export"),
        (2, "cluster-calendar"),
        (3, "cluster-tone"),
    ]
    assert all(len(p["trend"]) == 4 and p["trend_direction"] for p in report["patterns"])
    assert {a["alert_id"] for a in report["alerts"]} == {dataset.OPEN_ALERT, dataset.ACKED_ALERT}
    assert all(a["message"] for a in report["alerts"])
    pairs = {(v["feature"], v["version"]): v for v in report["versions"]}
    assert pairs[("summarize", "1.4.0")]["previous"] == "1.3.0"
    # The demo's planted changes: a regression, its fix, and fewer edits in email drafts.
    assert any("regeneration" in s for s in pairs[("summarize", "1.4.0")]["worse"])
    assert any("regeneration" in s for s in pairs[("summarize", "1.4.1")]["better"])
    assert any(" edit " in s for s in pairs[("email_draft", "3.1.0")]["better"])
    assert report["holdout"]["available"] and report["holdout"]["rows"] == []
    assert "no eval runs" in report["holdout"]["note"]


def test_labels_section(report: dict[str, Any]) -> None:
    labels = report["labels"]
    assert labels["labels"] == 12
    assert labels["agreement"]["double_labelled_items"] == 6
    assert labels["queue"]["done"] == 6
    assert sum(labels["verdicts"].values()) == 12


def test_the_one_change_registers_a_version_with_rationale_and_evidence(
    demo: Store, report: dict[str, Any], tmp_path: Path
) -> None:
    change = report["change"]
    assert change["pattern"]["cluster_id"] == "cluster-export"
    assert "failure_cluster:cluster-export" in change["evidence"]
    assert change["dashboard"] == f"/prompts/{change['prompt_name']}"
    registry = PromptRegistry(demo)
    name = change["prompt_name"]
    assert change["current_version"] == registry.labels(name)["production"]
    before = {v.version for v in registry.versions(name)}

    words = shlex.split(change["command"])
    assert words[:3] == ["promptloop", "prompts", "push"]
    prompt_file = tmp_path / words[3]
    prompt_file.parent.mkdir(parents=True)
    current = registry.resolve(name, label="production")
    prompt_file.write_text(current.template + "\nNever name a menu you have not seen.\n")
    words[3] = str(prompt_file)
    rationale = words.index("--rationale") + 1
    words[rationale] = words[rationale].replace("<what this version changes>", "name real menus")
    result = cli(["--store", demo.url, *words[1:]])

    assert result.exit_code == 0, result.output
    [new] = [v for v in PromptRegistry(demo).versions(name) if v.version not in before]
    assert new.rationale.startswith('Failure pattern #1 "')
    assert new.failure_mode == change["failure_mode"]
    kinds = {(e.kind, e.ref) for e in new.evidence}
    assert ("failure_cluster", "cluster-export") in kinds
    assert ("feedback_query", "review report --period 30d") in kinds


def test_markdown_and_html_carry_every_section_escaped(report: dict[str, Any]) -> None:
    markdown = to_markdown(report, base="http://dash")
    html = to_html(report, base="http://dash")
    for heading in (
        "most-flagged interactions",
        "Failure patterns by priority",
        "Alerts raised",
        "Prompt versions against the previous one",
        "holdout status",
        "What reviewers labelled",
        "The one prompt change to make",
    ):
        assert heading in markdown and heading in html
    assert f"(http://dash/interactions/{HOSTILE_ID})" in markdown
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert f'href="http://dash/interactions/{HOSTILE_ID}"' in html
    assert "$ promptloop prompts push" in markdown


def test_periods_parse_and_bad_ones_name_the_field() -> None:
    assert parse_period("30d") == timedelta(days=30)
    assert parse_period("2w") == timedelta(weeks=2)
    assert parse_period(" 12h ") == timedelta(hours=12)
    for bad in ("", "30", "0d", "3y", "-1d"):
        with pytest.raises(ValueError, match=r"^period: "):
            parse_period(bad)


def test_cli_and_dashboard_render_the_report(demo: Store, tmp_path: Path) -> None:
    # The CLI reads a store opened read-only: a copy, since this process holds the demo's.
    demo.checkpoint()  # type: ignore[attr-defined]
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(demo.url.removeprefix("duckdb:///"), copy)
    url = f"duckdb:///{copy}"
    out = tmp_path / "review.html"
    written = cli(["--store", url, "review", "report", "--format", "html", "-o", str(out)])
    assert written.exit_code == 0, written.output
    assert "The one prompt change to make" in out.read_text()
    bad = cli(["--store", url, "review", "report", "--period", "forever"])
    assert bad.exit_code == 2 and "--period" in bad.stderr

    with TestClient(make_app(demo, tmp_path)) as client:
        page = client.get("/review/report?period=30d")
        assert page.status_code == 200
        assert "Prompt review: 30d" in page.text and 'id="push-command"' in page.text
        assert "<script>alert" not in page.text
        assert client.get("/review/report?period=never").status_code == 422
        markdown = client.get("/v1/review/report", params={"format": "markdown"})
        assert markdown.headers["content-type"].startswith("text/markdown")


def test_the_random_sample_estimate_counts_each_item_once_and_says_how_far_along(
    duck: Store,
) -> None:
    from promptloop.review.report import sample_estimate
    from tests.review.conftest import NOW, filler, world

    w = world(duck)
    ids = filler(w, 10)
    w.save()
    settings = ReviewSettings.model_validate(
        {"double_label_share": 1.0, "rules": {"random_sample": {"rate": 1.0}}}
    )
    since = NOW - timedelta(days=1)
    for n, ident in enumerate(ids[:4]):
        label = parse_label({"verdict": "bad" if n == 0 else "good"})
        workflow.label_interaction(duck, ident, "ann", label, settings, now=NOW)
        # a second reviewer disagrees: the estimate takes each item's first label
        other = parse_label({"verdict": "good" if n == 0 else "bad"})
        later = NOW + timedelta(minutes=1)
        workflow.label_interaction(duck, ident, "bob", other, settings, now=later)
    from promptloop.review import queue

    queue.enqueue(duck, settings, rules=["random_sample"], now=NOW)
    partial = sample_estimate(duck, since, NOW)
    assert partial["items"] == 10 and partial["labels"] == 4 and partial["coverage"] == 0.4
    assert partial["note"].startswith("4 of 10 sampled interactions labelled")
    for ident in ids[4:]:
        workflow.label_interaction(duck, ident, "ann", parse_label({"verdict": "good"}), now=NOW)
    full = sample_estimate(duck, since, NOW)
    assert full["coverage"] == 1.0 and full["note"] is None
    assert full["bad_rate"]["count"] == 1 and full["bad_rate"]["n"] == 10
