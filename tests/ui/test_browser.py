"""The dashboard in real headless Chromium, against the real collector over a real socket.

Every wait is a Playwright expectation (or a navigation), never a sleep. Screenshots of
every page go to docs/screenshots/ when PROMPTLOOP_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from promptloop.store.base import Store
from tests.ui import dataset
from tests.ui.conftest import API_KEY, PASSWORD, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

PAGES = [
    ("overview", "/", "Overview"),
    ("prompts", "/prompts", "Prompt versions"),
    ("prompt-versions", "/prompts/support_assistant", "support_assistant"),
    ("interactions", "/interactions", "Interactions"),
    ("interaction-detail", f"/interactions/{dataset.EDITED_ID}", "Interaction"),
    ("failure-patterns", "/patterns", "Failure patterns"),
    ("alerts", "/alerts", "Alerts"),
    ("alert-detail", f"/alerts/{dataset.OPEN_ALERT}", "regeneration alert"),
    ("negative-inputs", "/questions/negative-inputs?days=14", "negative feedback"),
    ("regenerated-inputs", "/questions/regenerated?prompt_version=2.2.0", "regenerated"),
]


@pytest.mark.parametrize(("name", "path", "heading"), PAGES, ids=[p[0] for p in PAGES])
def test_each_page_renders_with_demo_data(
    page: Page, live: LiveServer, screenshot_dir: Path, name: str, path: str, heading: str
) -> None:
    from playwright.sync_api import expect

    page.goto(live.url + path)
    expect(page.locator("h1")).to_contain_text(heading)
    expect(page.locator("[data-pending]")).to_have_count(0)
    if name == "overview":
        expect(page.locator(".empty")).to_have_count(0)
    for canvas in page.locator("canvas[data-chart]").all():
        expect(canvas).to_have_attribute("data-rendered", "true")
    tall = name in ("overview", "prompt-versions", "interaction-detail", "failure-patterns")
    page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=tall)


def test_overview_shows_rates_with_intervals_and_sparklines(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.url + "/")
    features = page.locator("section.feature-block")
    expect(features).to_have_count(3)
    first = features.first
    for metric in ("regeneration", "thumbs_down", "edit", "abandonment", "follow_up"):
        card = first.locator(f'[data-metric="{metric}"]')
        expect(card.locator(".value")).to_have_text(re.compile(r"\d+\.\d%"))
        expect(card.locator(".ci").first).to_contain_text("[")
        expect(card.locator("svg polyline")).to_have_count(1)
    expect(first.locator('[data-metric="thumbs_down"]')).to_contain_text("response rate")
    expect(page.locator("#alerts-title + table tr")).to_have_count(1)
    expect(page.locator("#deploys-title ~ ul li").first).to_contain_text("production")


def test_seed_questions_are_one_click_from_the_overview(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.url + "/")
    page.locator("#q-negative").click()
    expect(page.locator("h1")).to_contain_text("Most common inputs with negative feedback")
    rows = page.locator("#answer tbody tr")
    expect(rows.first).to_be_visible()
    # Open the interactions behind the top answer.
    rows.first.locator("a").click()
    expect(page.locator("h1")).to_have_text("Interactions")
    expect(page.locator("#results tbody tr").first).to_be_visible()
    expect(page.locator("#f-feedback_type")).to_have_value("negative")

    page.goto(live.url + "/")
    page.locator("a.q-regenerated", has_text="2.2.0").first.click()
    expect(page.locator("h1")).to_contain_text("for version 2.2.0")
    expect(page.locator("#answer tbody tr").first).to_be_visible()


def _column(page: Page, index: int) -> list[str]:
    return page.locator(f"#results tbody tr td:nth-child({index})").all_inner_texts()


def test_filters_change_the_results(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.url + "/interactions")
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(50)
    assert {t.split("\n")[0] for t in _column(page, 2)} != {"email_draft"}

    page.locator("#f-feature").select_option("email_draft")
    page.locator("#apply").click()
    expect(page).to_have_url(re.compile(r"feature=email_draft"))
    expect(rows.first).to_be_visible()
    assert {t.split("\n")[0] for t in _column(page, 2)} == {"email_draft"}

    page.locator("#f-feature").select_option("")
    page.locator("[data-search]").fill("hand-made")
    page.locator("#apply").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("hand-made")

    page.locator("#f-feedback_type").select_option("thumbs_down")
    page.locator("#f-category").select_option("wrong")
    page.locator("#apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", dataset.EDITED_ID)

    # The export follows the filter.
    href = page.locator("#export-csv").get_attribute("href") or ""
    response = page.request.get(live.url + href)
    assert response.ok
    lines = response.text().strip().splitlines()
    assert len(lines) == 2 and dataset.EDITED_ID in lines[1]


def test_paging_goes_to_older_rows(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(live.url + "/interactions?feature=summarize")
    first_ids = page.locator("#results tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    page.locator("#next-page").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    expect(page.locator("#results tbody tr").first).to_be_visible()
    second_ids = page.locator("#results tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert second_ids and not set(first_ids) & set(second_ids)


def test_detail_shows_the_edit_as_a_diff_and_every_feedback_source(
    page: Page, live: LiveServer
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.url}/interactions/{dataset.EDITED_ID}")
    diff = page.locator("[data-diff]")
    expect(diff).to_have_count(1)
    expect(diff.locator("del").first).to_be_visible()
    expect(diff.locator("ins", has_text="File")).to_be_visible()
    expect(diff.locator("del", has_text="Settings")).to_be_visible()
    expect(page.locator("#user-input")).to_have_text(dataset.EDIT_INPUT)
    expect(page.locator("#raw-output")).to_have_text(dataset.ORIGINAL)
    expect(page.locator('.event[data-feedback="thumbs_down"]')).to_contain_text("wrong")
    expect(page.locator(".event .badge.user").first).to_be_visible()
    timeline = page.locator("#timeline li")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(1)).to_contain_text("regeneration")
    expect(page.locator("#version-link")).to_have_attribute(
        "href", "/prompts/support_assistant#v-2.2.0"
    )
    # The session's last answer was abandoned: the signal job inferred it, marked as such.
    page.locator("#timeline a", has_text="export all notebooks").click()
    expect(page.locator(".event.inferred").first).to_be_visible()
    expect(page.locator(".event.inferred .badge.inferred").first).to_have_text("inferred")


def test_acknowledging_an_alert_persists(page: Page, live: LiveServer, demo_store: Store) -> None:
    from playwright.sync_api import expect

    alert_id = dataset.add_open_alert(demo_store, "alert-browser-ack")
    page.goto(f"{live.url}/alerts/{alert_id}")
    expect(page.locator("h1 .badge")).to_have_text("open")
    expect(page.locator("#evidence-chart")).to_have_attribute("data-rendered", "true")
    page.locator("input[name=by]").fill("Dana")
    page.locator("input[name=note]").fill("rolling back 2.2.0")
    page.locator("#ack-button").click()
    expect(page.locator("#ack-state")).to_contain_text("Acknowledged by Dana")
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("acknowledged")
    expect(page.locator("#ack-state")).to_contain_text("rolling back 2.2.0")
    stored = demo_store.fetch_all(
        "SELECT status, acknowledged_by FROM alerts WHERE alert_id = :id", {"id": alert_id}
    )
    assert stored == [{"status": "acknowledged", "acknowledged_by": "Dana"}]


def test_triage_persists(page: Page, live: LiveServer, demo_store: Store) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.url}/patterns")
    cluster = page.locator('[data-cluster="cluster-tone"]')
    cluster.locator("input[value=product_scope]").check()
    cluster.locator("input[name=note]").fill("drafts for internal notes are out of scope")
    cluster.locator("button[type=submit]").click()
    cluster = page.locator('[data-cluster="cluster-tone"]')
    expect(cluster.locator(".triage-state")).to_contain_text("product scope")
    expect(cluster.locator("input[value=product_scope]")).to_be_checked()
    stored = demo_store.fetch_all(
        "SELECT triage FROM failure_clusters WHERE cluster_id = 'cluster-tone'"
    )
    assert stored == [{"triage": "product_scope"}]


def test_saved_view_round_trip(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.url}/interactions?feature=summarize&feedback_type=edit")
    page.locator("#save-view input[name=name]").fill("Edited summaries")
    page.locator("#save-view button").click()
    view = page.locator(".views .view a", has_text="Edited summaries")
    expect(view).to_be_visible()
    page.goto(f"{live.url}/interactions")
    page.locator(".views .view a", has_text="Edited summaries").click()
    expect(page.locator("#f-feature")).to_have_value("summarize")
    expect(page.locator("#f-feedback_type")).to_have_value("edit")


def test_keyboard_navigation(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    page.goto(f"{live.url}/interactions")
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("[data-search]")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile("selected"))
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile("selected"))
    wanted = rows.nth(1).get_attribute("data-id")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/interactions/{wanted}$"))
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()
    page.keyboard.press("g")
    page.keyboard.press("a")
    expect(page).to_have_url(re.compile(r"/alerts$"))


def test_dark_theme_toggles_and_sticks(page: Page, live: LiveServer, screenshot_dir: Path) -> None:
    from playwright.sync_api import expect

    page.goto(live.url + "/")
    html = page.locator("html")
    light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_bg != light_bg
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    page.screenshot(path=str(screenshot_dir / "overview-dark.png"), full_page=True)
    page.goto(f"{live.url}/prompts/support_assistant")
    expect(page.locator("#rate-chart")).to_have_attribute("data-rendered", "true")
    page.screenshot(path=str(screenshot_dir / "prompt-versions-dark.png"), full_page=True)
    page.keyboard.press("t")
    expect(html).to_have_attribute("data-theme", "light")


def test_login_is_required_and_no_secret_reaches_the_browser(
    browser: Browser, live_auth: LiveServer, screenshot_dir: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_auth.url}/interactions?feature=summarize")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.locator("h1")).to_have_text("Log in")
        page.screenshot(path=str(screenshot_dir / "login.png"))
        page.locator("#password").fill("not the password")
        page.locator("button[type=submit]").click()
        expect(page.locator("[role=alert]")).to_contain_text("not valid")
        page.locator("#password").fill(API_KEY)
        page.locator("button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/interactions\?feature=summarize$"))
        expect(page.locator("#results tbody tr").first).to_be_visible()
        for path in ("/", "/prompts/support_assistant", f"/interactions/{dataset.EDITED_ID}"):
            page.goto(live_auth.url + path)
            html = page.content()
            assert API_KEY not in html and PASSWORD not in html
        cookies = context.cookies()
        assert len(cookies) == 1
        cookie = cookies[0]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert API_KEY not in cookie["value"] and PASSWORD not in cookie["value"]
        assert page.evaluate("document.cookie") == ""
        # The API still wants a key: the dashboard's cookie is not one.
        response = page.request.get(f"{live_auth.url}/v1/interactions")
        assert response.status == 401
        page.locator("form[action='/logout'] button").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        page.goto(live_auth.url + "/")
        expect(page).to_have_url(re.compile(r"/login"))
        # The password works too.
        page.locator("#password").fill(PASSWORD)
        page.locator("button[type=submit]").click()
        expect(page.locator("h1")).to_have_text("Overview")
    finally:
        context.close()
