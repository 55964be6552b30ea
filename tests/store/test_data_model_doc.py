"""docs/data-model.md documents every table and every column the migrations create."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promptloop.store import open_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
_HEADING = re.compile(r"^#{2,4} .*$", re.MULTILINE)


def _sections(text: str) -> dict[str, str]:
    """Each heading's text mapped to the body below it (up to the next heading)."""
    headings = list(_HEADING.finditer(text))
    sections: dict[str, str] = {}
    for index, match in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        sections[match.group(0)] = text[match.end() : end]
    return sections


def _documented_columns(table: str, sections: dict[str, str]) -> set[str]:
    """Backticked names in every section whose heading names the table."""
    found: set[str] = set()
    for heading, body in sections.items():
        if re.search(rf"`{re.escape(table)}(\.\w+)?`", heading):
            found |= set(re.findall(r"`(\w+)`", heading + body))
    return found


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    store = open_store(f"duckdb:///{tmp_path_factory.mktemp('doc')}/schema.duckdb")
    try:
        rows = store.fetch_all(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        )
    finally:
        store.close()
    tables: dict[str, list[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], []).append(row["column_name"])
    return tables


def test_every_table_has_a_section(schema: dict[str, list[str]]) -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    missing = [table for table in schema if not _documented_columns(table, sections)]
    assert missing == []


def test_every_column_is_documented_under_its_table(schema: dict[str, list[str]]) -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    missing = {
        table: sorted(set(columns) - _documented_columns(table, sections))
        for table, columns in schema.items()
    }
    assert {table: cols for table, cols in missing.items() if cols} == {}
