"""Debian's Chromium driven by Playwright, shared by the widget and the dashboard tests.

Never a downloaded browser: ``/usr/bin/chromium`` (``make system-deps`` installs it), or
``PROMPTLOOP_CHROMIUM``. Missing is a failure in CI (``CI`` set) and a skip, with the reason,
elsewhere. Playwright's sync API runs an event loop on this thread while it is open, so the
fixtures that use this close it with their package, before other packages' async tests.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path(os.environ.get("PROMPTLOOP_CHROMIUM", "/usr/bin/chromium"))
# As the machine notes say: headless, and no background traffic on this closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need Chromium and Playwright in CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium(expect_timeout_ms: int) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(
            f"{CHROMIUM} not found: install Debian's chromium and chromium-driver "
            "(make system-deps)"
        )
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed ({exc}): pip install -e '.[dev]'")
        raise
    expect.set_options(timeout=expect_timeout_ms)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()
