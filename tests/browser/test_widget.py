"""The widget in real headless Chromium, against the real collector over a real socket.

The host page is served from another origin (the collector allows it through its CORS
allow-list). Each test waits on Playwright's expectations or on the HTTP response of the
feedback request, and for beacons (sent while the page goes away) on the collector's own
record of the request: never on a sleep.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from promptloop.core.tokens import sign
from tests.browser.conftest import ANSWER, SIGNING_KEY, Answer

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Response

pytestmark = pytest.mark.browser


def _is_feedback(response: Response) -> bool:
    return "/v1/feedback/" in response.url and response.request.method == "POST"


def _widget(page: Page) -> Locator:
    from playwright.sync_api import expect

    root = page.locator(".pl-widget")
    expect(root).to_be_visible()
    return root


def test_thumbs_down_then_a_category_stores_one_event_with_that_category(
    page: Page, answer: Answer
) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    down = root.get_by_role("button", name="Bad response")
    down.click()
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-expanded", "true")
    chips = root.get_by_role("group", name="What was wrong?")
    expect(chips.get_by_role("button")).to_have_text(
        ["Wrong", "Unhelpful", "Off-topic", "Inappropriate", "Send"]
    )
    with page.expect_response(_is_feedback) as sent:
        chips.get_by_role("button", name="Off-topic").click()
    assert sent.value.status == 200
    expect(chips).to_be_hidden()
    expect(root.locator(".pl-status")).to_have_text("Thanks for the feedback.")

    # Leaving the page must not send the thumbs down again (only the abandonment beacon).
    page.close(run_before_unload=True)
    answer.collector.wait_for_requests(answer.token, 2)
    downs = answer.events("thumbs_down")
    assert len(downs) == 1, downs
    assert downs[0]["category"] == "off_topic"
    assert downs[0]["source"] == "user"
    assert downs[0]["interaction_id"] == answer.interaction_id


def test_thumbs_down_with_a_comment_and_no_category(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    root.get_by_role("button", name="Bad response").click()
    root.get_by_label("Comment (optional)").fill("It names a menu that does not exist.")
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("button", name="Send").click()
    assert sent.value.status == 200
    expect(root.locator(".pl-status")).to_have_text("Thanks for the feedback.")
    [event] = answer.events("thumbs_down")
    assert event["category"] is None
    assert event["comment"] == "It names a menu that does not exist."


def test_thumbs_up_is_pressed_and_stored_once(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    up = root.get_by_role("button", name="Good response")
    with page.expect_response(_is_feedback) as sent:
        up.click()
    assert sent.value.status == 200
    expect(up).to_have_attribute("aria-pressed", "true")
    up.click()  # already pressed: nothing more is sent
    with page.expect_response(_is_feedback):
        root.get_by_role("button", name="Copy").click()
    assert page.evaluate("window.widgetEvents.map((e) => e.type)") == ["thumbs_up", "copy"]
    assert len(answer.events("thumbs_up")) == 1


def test_copy_button_stores_copy_not_edited(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("button", name="Copy").click()
    assert sent.value.status == 200
    expect(root.locator(".pl-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == ANSWER
    [event] = answer.events("copy")
    assert event["metadata"] == {"edited": False, "via": "button"}


def test_keyboard_copy_of_the_output_stores_copy_not_edited(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url())
    root = _widget(page)
    output = root.locator(".pl-output")
    output.click(click_count=3)  # select the answer's text
    with page.expect_response(_is_feedback) as sent:
        page.keyboard.press("Control+C")
    assert sent.value.status == 200
    [event] = answer.events("copy")
    assert event["metadata"] == {"edited": False, "via": "selection"}


def test_edit_and_accept_stores_the_final_text_and_a_later_copy_is_edited(
    page: Page, answer: Answer
) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    output = root.locator(".pl-output")
    root.get_by_role("button", name="Edit").click()
    box = root.get_by_role("textbox", name="Response text (editing)")
    expect(box).to_be_focused()
    final = "Open the notebook, choose File > Export > PDF. Large notebooks take a minute."
    box.fill(final)
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("button", name="Accept").click()
    assert sent.value.status == 200
    expect(root.locator(".pl-status")).to_have_text("Edit saved.")
    expect(output).to_have_text(final)
    expect(output).to_have_attribute("contenteditable", "false")
    [edit] = answer.events("edit")
    assert edit["user_edit"] == final

    with page.expect_response(_is_feedback) as copied:
        root.get_by_role("button", name="Copy").click()
    assert copied.value.status == 200
    assert page.evaluate("navigator.clipboard.readText()") == final
    [copy] = answer.events("copy")
    assert copy["metadata"] == {"edited": True, "via": "button"}


def test_an_unchanged_edit_or_a_cancel_sends_nothing(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    output = root.locator(".pl-output")
    root.get_by_role("button", name="Edit").click()
    root.get_by_role("button", name="Accept").click()  # unchanged
    root.get_by_role("button", name="Edit").click()
    root.get_by_role("textbox").fill("something else entirely")
    page.keyboard.press("Escape")  # cancel
    expect(output).to_have_text(ANSWER)
    expect(root.get_by_role("button", name="Edit")).to_be_focused()
    # A thumbs up is the only request this page made.
    with page.expect_response(_is_feedback):
        root.get_by_role("button", name="Good response").click()
    assert [r.status for r in answer.collector.feedback_requests(answer.token)] == [200]
    assert answer.events("edit") == []


def test_regenerate_calls_the_hook_and_stores_regenerate(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url(regenerate=True))
    root = _widget(page)
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("button", name="Regenerate").click()
    assert sent.value.status == 200
    expect(page.locator("#regen-log")).to_have_text("regenerated 1")
    assert page.evaluate("window.regenerateCalls") == [ANSWER]
    assert len(answer.events("regenerate")) == 1


def test_no_regenerate_button_without_a_hook(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    expect(root.get_by_role("button", name="Copy")).to_be_visible()
    expect(root.get_by_role("button", name="Regenerate")).to_have_count(0)


def test_star_rating_stores_the_value(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    stars = root.get_by_role("group", name="Rate this response")
    with page.expect_response(_is_feedback) as sent:
        stars.get_by_role("button", name="Rate 4 of 5").click()
    assert sent.value.status == 200
    expect(stars.get_by_role("button", name="Rate 4 of 5")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(stars.get_by_role("button", name="Rate 5 of 5")).to_have_attribute(
        "aria-pressed", "false"
    )
    [rating] = answer.events("rating")
    assert rating["value"] == 4


def test_report_a_problem_stores_the_report(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    report = root.get_by_role("button", name="Report a problem")
    report.click()
    expect(report).to_have_attribute("aria-expanded", "true")
    box = root.get_by_label("What is the problem?")
    expect(box).to_be_focused()
    box.fill("It recommends a setting that leaks my notes.")
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("group", name="Report a problem").get_by_role(
            "button", name="Send"
        ).click()
    assert sent.value.status == 200
    expect(root.locator(".pl-status")).to_have_text("Thanks, the problem was reported.")
    [event] = answer.events("report")
    assert event["comment"] == "It recommends a setting that leaks my notes."


def test_closing_the_page_sends_an_abandon_beacon(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url())
    _widget(page)
    page.close(run_before_unload=True)
    answer.collector.wait_for_requests(answer.token, 1)
    [abandon] = answer.events("abandon")
    assert abandon["source"] == "user"
    assert abandon["metadata"] == {"trigger": "pagehide"}
    assert [r.status for r in answer.collector.feedback_requests(answer.token)] == [200]


def test_navigating_away_sends_an_abandon_beacon(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url())
    _widget(page)
    page.locator("#away").click()
    [beacon] = _beacons_sent(page)
    assert [e["feedbackType"] for e in json.loads(str(beacon))] == ["abandon"]
    answer.collector.wait_for_requests(answer.token, 1)
    [abandon] = answer.events("abandon")
    assert abandon["metadata"] == {"trigger": "pagehide"}


def _beacons_sent(page: Page) -> list[object]:
    """What the host page passed to sendBeacon (its test wrapper keeps it in localStorage)."""
    from playwright.sync_api import expect

    expect(page.locator("#elsewhere")).to_be_visible()
    return list(page.evaluate("JSON.parse(localStorage.getItem('beacons') || '[]')"))


def test_no_abandon_after_a_positive_signal(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url())
    root = _widget(page)
    with page.expect_response(_is_feedback):
        root.get_by_role("button", name="Copy").click()
    page.locator("#away").click()  # pagehide ran before the next page shows
    assert _beacons_sent(page) == []
    assert answer.events("abandon") == []


def test_no_abandon_after_regenerate(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url(regenerate=True))
    root = _widget(page)
    with page.expect_response(_is_feedback):
        root.get_by_role("button", name="Regenerate").click()
    page.locator("#away").click()
    assert _beacons_sent(page) == []


def test_abandon_can_be_turned_off(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url(abandon=False))
    _widget(page)
    page.locator("#away").click()
    assert _beacons_sent(page) == []


def test_a_pending_thumbs_down_is_sent_when_the_page_closes(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    root.get_by_role("button", name="Bad response").click()
    expect(root.get_by_role("group", name="What was wrong?")).to_be_visible()
    page.close(run_before_unload=True)
    answer.collector.wait_for_requests(answer.token, 1)
    [down] = answer.events("thumbs_down")
    assert down["category"] is None
    assert len(answer.events("abandon")) == 1  # a thumbs down is not a positive signal


def test_a_forged_token_stores_nothing_and_shows_an_error(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    body, signature = answer.token.split(".")
    forged = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    page.goto(answer.page_url(token=forged))
    root = _widget(page)
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("button", name="Good response").click()
    assert sent.value.status == 401
    assert sent.value.json()["error"] == "invalid_token"
    expect(root).to_have_attribute("data-state", "error")
    expect(root.locator(".pl-status")).to_have_text("This feedback link is not valid.")
    assert [r.status for r in answer.collector.feedback_requests(forged)] == [401]
    assert answer.events() == []


def test_an_expired_token_is_refused(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    expired = sign(SIGNING_KEY, answer.interaction_id, ttl_seconds=60, now=time.time() - 3600)
    page.goto(answer.page_url(token=expired))
    root = _widget(page)
    with page.expect_response(_is_feedback) as sent:
        root.get_by_role("button", name="Rate 5 of 5").click()
    assert sent.value.status == 401
    assert sent.value.json()["error"] == "expired_token"
    expect(root.locator(".pl-status")).to_have_text("This feedback link has expired.")
    assert answer.events() == []


def test_a_page_from_an_origin_not_allowed_stores_nothing(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    # Same app server, other origin (localhost is not 127.0.0.1): not in the allow-list.
    port = answer.app_server.port
    page.goto(answer.page_url(origin=f"http://localhost:{port}"))
    root = _widget(page)
    root.get_by_role("button", name="Good response").click()
    # The refusal carries no CORS header, so the page cannot read it: the widget retries
    # twice (the same feedbackId), then reports that it could not reach the collector.
    expect(root).to_have_attribute("data-state", "error")
    expect(root.locator(".pl-status")).to_have_text("Could not reach the feedback service.")
    answer.collector.wait_for_requests(answer.token, 3)
    assert [r.status for r in answer.collector.feedback_requests(answer.token)] == [403] * 3
    assert answer.events() == []


def test_keyboard_only(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url(regenerate=True))
    root = _widget(page)
    up = root.get_by_role("button", name="Good response")
    down = root.get_by_role("button", name="Bad response")
    page.keyboard.press("Tab")  # the first focusable element of the page is the widget's
    expect(up).to_be_focused()
    page.keyboard.press("Tab")
    expect(down).to_be_focused()
    page.keyboard.press("Enter")  # opens the chips, focus on the first one
    chips = root.get_by_role("group", name="What was wrong?")
    expect(chips.get_by_role("button", name="Wrong")).to_be_focused()
    page.keyboard.press("Tab")
    expect(chips.get_by_role("button", name="Unhelpful")).to_be_focused()
    with page.expect_response(_is_feedback):
        page.keyboard.press("Space")
    expect(down).to_be_focused()  # focus returns to the opener
    expect(chips).to_be_hidden()

    page.keyboard.press("Tab")
    star = root.get_by_role("button", name="Rate 1 of 5")
    expect(star).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    with page.expect_response(_is_feedback):
        page.keyboard.press("Enter")  # 3 stars
    expect(root.get_by_role("button", name="Rate 3 of 5")).to_have_attribute("aria-pressed", "true")

    # Edit with the keyboard: Tab to Edit (past stars 4 and 5 and Copy); Ctrl+Enter accepts.
    for _ in range(4):
        page.keyboard.press("Tab")
    expect(root.get_by_role("button", name="Edit")).to_be_focused()
    page.keyboard.press("Enter")
    box = root.get_by_role("textbox")
    expect(box).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.type(" Thanks!")
    with page.expect_response(_is_feedback):
        page.keyboard.press("Control+Enter")
    expect(root.get_by_role("button", name="Edit")).to_be_focused()

    downs = answer.events("thumbs_down")
    assert [(e["feedback_type"], e["category"]) for e in downs] == [("thumbs_down", "unhelpful")]
    assert [e["value"] for e in answer.events("rating")] == [3]
    [edit] = answer.events("edit")
    assert edit["user_edit"].endswith(" Thanks!")


def test_escape_closes_the_chips_and_sends_thumbs_down_without_category(
    page: Page, answer: Answer
) -> None:
    from playwright.sync_api import expect

    page.goto(answer.page_url())
    root = _widget(page)
    down = root.get_by_role("button", name="Bad response")
    down.click()
    with page.expect_response(_is_feedback):
        page.keyboard.press("Escape")
    expect(down).to_be_focused()
    expect(down).to_have_attribute("aria-expanded", "false")
    [event] = answer.events("thumbs_down")
    assert event["category"] is None


def test_dark_theme_and_css_variables(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    page.emulate_media(color_scheme="dark")
    page.goto(answer.page_url())
    root = _widget(page)
    expect(root).to_have_css("background-color", "rgb(17, 24, 39)")
    page.evaluate("document.body.style.setProperty('--pl-bg', 'rgb(1, 2, 3)')")
    expect(root).to_have_css("background-color", "rgb(1, 2, 3)")
    page.emulate_media(color_scheme="light")
    expect(root).to_have_css("background-color", "rgb(1, 2, 3)")
    page.evaluate("document.body.style.removeProperty('--pl-bg')")
    expect(root).to_have_css("background-color", "rgb(255, 255, 255)")


def test_every_event_carries_a_fresh_feedback_id(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url())
    root = _widget(page)
    with page.expect_response(_is_feedback) as first:
        root.get_by_role("button", name="Good response").click()
    with page.expect_response(_is_feedback) as second:
        root.get_by_role("button", name="Copy").click()
    requests = [first.value.request, second.value.request]
    ids = [json.loads(request.post_data or "")[0]["feedbackId"] for request in requests]
    assert len(set(ids)) == 2
    assert all(str(uuid.UUID(i)) == i for i in ids)
    # text/plain keeps the cross-origin POST a simple request: no preflight.
    assert requests[0].headers["content-type"].startswith("text/plain")
    assert {e["feedback_id"] for e in answer.events()} == set(ids)


def test_the_apps_own_output_element(page: Page, answer: Answer) -> None:
    from playwright.sync_api import expect

    html = "<p>Open the notebook, then <b>File &gt; Export</b>.</p>"
    page.goto(answer.page_url(output_html=html))
    root = _widget(page)
    output = page.locator("#app-output")
    expect(root.locator(".pl-output")).to_have_count(0)  # the widget renders no copy of it
    # Cancel restores the app's markup exactly.
    root.get_by_role("button", name="Edit").click()
    expect(output).to_have_attribute("contenteditable", "plaintext-only")
    output.fill("scribbles")
    root.get_by_role("button", name="Cancel").click()
    expect(output.locator("b")).to_have_text("File > Export")
    # Accept sends the edited text.
    root.get_by_role("button", name="Edit").click()
    output.fill("Open the notebook, then File > Export > PDF.")
    with page.expect_response(_is_feedback):
        root.get_by_role("button", name="Accept").click()
    [edit] = answer.events("edit")
    assert edit["user_edit"] == "Open the notebook, then File > Export > PDF."


def test_visibility_hidden_sends_abandon_once(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url())
    _widget(page)
    hide = """() => {
      Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
      document.dispatchEvent(new Event("visibilitychange"));
      return JSON.parse(localStorage.getItem("beacons") || "[]");
    }"""
    [beacon] = page.evaluate(hide)
    assert json.loads(beacon) == [
        {
            "feedbackId": json.loads(beacon)[0]["feedbackId"],
            "feedbackType": "abandon",
            "metadata": {"trigger": "visibilitychange"},
        }
    ]
    assert len(page.evaluate(hide)) == 1  # once per answer
    answer.collector.wait_for_requests(answer.token, 1)
    [abandon] = answer.events("abandon")
    assert abandon["metadata"] == {"trigger": "visibilitychange"}


def test_abandon_pagehide_only_ignores_a_tab_switch(page: Page, answer: Answer) -> None:
    page.goto(answer.page_url(abandon="pagehide"))
    _widget(page)
    beacons = page.evaluate(
        """() => {
          Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
          document.dispatchEvent(new Event("visibilitychange"));
          return JSON.parse(localStorage.getItem("beacons") || "[]");
        }"""
    )
    assert beacons == []
    page.locator("#away").click()
    [beacon] = _beacons_sent(page)
    assert json.loads(str(beacon))[0]["metadata"] == {"trigger": "pagehide"}
