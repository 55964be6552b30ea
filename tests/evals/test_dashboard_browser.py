"""The eval pages in headless Chromium: the comparison chart draws (Chart.js served by the
collector, under its Content-Security-Policy) and the run's matrix shows outputs side by side."""

from __future__ import annotations

from pathlib import Path

from promptloop.evals import datasets, runner
from promptloop.evals.datasets import NewItem
from promptloop.evals.providers import load_provider
from promptloop.evals.runner import PromptUnderTest, RunPlan, cases_from_items
from promptloop.store import open_store
from tests.cli.conftest import running_collector
from tests.support.chromium import chromium


def test_comparison_chart_and_matrix_render(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/store.duckdb")
    questions = [
        "How do I export a notebook as PDF?",
        "Can I share a tag with my team?",
        "Why is sync stuck on my phone?",
        "Where are my deleted notes?",
        "Does offline mode work on Windows?",
        "How do reminders repeat weekly?",
        "Can templates include checklists?",
        "What is the storage limit?",
        "How do I change the app theme?",
        "Is there a calendar integration?",
        "Can I password-protect one note?",
        "How do I undo an edit from yesterday?",
    ]
    items = [
        NewItem(
            input=q,
            vars={"user_input": q},
            assertions=[{"type": "not-contains", "value": "Zapier"}],
        )
        for q in questions
    ]
    datasets.create_version(store, "support-browser", items, holdout_fraction=0.25)
    plan = RunPlan(
        prompts=[
            PromptUnderTest(label="old", template="We integrate with Zapier. {{user_input}}"),
            PromptUnderTest(label="new", template="Only Slack and Drive. {{user_input}}"),
        ],
        providers=[load_provider("echo")],
        cases=cases_from_items(
            datasets.items(store, "support-browser", 1, splits=("dev", "holdout"))
        ),
        dataset="support-browser",
        dataset_version=1,
    )
    run_id = runner.run(store, plan)
    errors: list[str] = []
    with running_collector(store, tmp_path / "data") as url, chromium(10_000) as browser:
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/evals/compare?baseline={run_id}/old/echo&candidate={run_id}/new/echo")
        page.wait_for_selector("#compare-chart[data-rendered='true']")
        assert "Fixed" in page.inner_text("#compare-stats")
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
        page.goto(f"{url}/evals/runs/{run_id}")
        matrix = page.inner_text("#run-items")
        assert "We integrate with Zapier" in matrix and "Only Slack and Drive" in matrix
        assert "held-out items hidden" in page.inner_text("#items-title")
        page.goto(f"{url}/evals")
        page.click(f"text={run_id}")
        assert page.url.endswith(f"/evals/runs/{run_id}")
    store.close()
    assert errors == []
