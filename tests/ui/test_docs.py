"""docs/dashboard.md documents every page and every keyboard shortcut (the datasette habit:
a test fails when something is undocumented)."""

from __future__ import annotations

import re
from pathlib import Path

from promptloop.server.ui import pages

DOC = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"
APP_JS = Path(pages.__file__).parent / "static" / "app.js"


def _routes() -> set[str]:
    paths = set()
    for router in (pages.router, pages.pages):
        for route in router.routes:
            path = getattr(route, "path", "")
            if path.endswith(".json") and path != "/interactions/export.{fmt}":
                continue
            paths.add(re.sub(r"\{[^}]+\}", "{x}", path))
    return paths


def test_every_page_is_documented() -> None:
    text = re.sub(r"\{[^}]+\}", "{x}", DOC.read_text())
    missing = sorted(path for path in _routes() if f"`{path}" not in text)
    assert not missing, f"pages missing from docs/dashboard.md: {missing}"


def test_every_shortcut_is_documented() -> None:
    keys = set(re.findall(r'case "([^"]+)":', APP_JS.read_text()))
    table = DOC.read_text().split("## Keyboard", 1)[1].split("##", 1)[0]
    missing = sorted(key for key in keys if f"`{key}`" not in table)
    assert not missing, f"shortcuts missing from docs/dashboard.md: {missing}"
