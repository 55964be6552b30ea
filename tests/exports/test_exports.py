"""Exports on every backend: Parquet, CSV (formula-safe), DataFrames, Phoenix and Langfuse."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from promptloop.analytics.queries import InteractionFilter
from promptloop.exports import (
    AnnotationExport,
    count_rows,
    langfuse_scores,
    neutralise,
    phoenix_annotations,
    to_dataframe,
    write_csv,
    write_parquet,
)
from promptloop.exports.tables import iter_rows
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.support.records import T0, feedback, interaction

HOSTILE = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "safe"]


def _seed(store: Store) -> Store:
    calls = [
        interaction(
            interaction_id=f"00000000-0000-4000-8000-{n:012d}",
            feature="summarize" if n % 2 == 0 else "chat",
            user_input=HOSTILE[n % len(HOSTILE)],
            timestamp=T0 + timedelta(minutes=n // 2),  # pairs share a timestamp
            trace_id=f"{n + 1:032x}" if n < 6 else None,
            span_id=f"{n + 1:016x}" if n < 6 else None,
            metadata={"variant": "A" if n % 3 else "B"},
        )
        for n in range(10)
    ]
    store.insert_interactions(calls)
    store.insert_feedback(
        [
            feedback(calls[0].interaction_id, "thumbs_down", comment="=cmd|' /C calc'!A0"),
            feedback(calls[1].interaction_id, "thumbs_up"),
            feedback(calls[2].interaction_id, "rating", value=4, source="annotator"),
            feedback(calls[3].interaction_id, "report", category="wrong", source="judge"),
            feedback(calls[4].interaction_id, "regenerate", source="inferred"),
            feedback(calls[8].interaction_id, "thumbs_down"),  # no span IDs
        ]
    )
    return store


@pytest.fixture
def seeded(store: Store) -> Store:
    """On every backend: for what depends on the SQL (filters, paging, column types)."""
    return _seed(store)


@pytest.fixture
def duck_seeded(tmp_path: Path) -> Iterator[Store]:
    """On DuckDB only: for what happens after the rows are read (shapes, DataFrames)."""
    store = open_store(f"duckdb:///{tmp_path}/store.duckdb")
    yield _seed(store)
    store.close()


def test_parquet_holds_the_filtered_interactions(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "calls.parquet"
    written = write_parquet(seeded, path, "interactions", InteractionFilter(feature="summarize"))
    table = pq.read_table(path)
    assert written == table.num_rows == 5
    rows = table.to_pylist()
    assert {row["feature"] for row in rows} == {"summarize"}
    assert [row["interaction_id"][-2:] for row in rows] == ["00", "02", "04", "06", "08"]
    assert json.loads(rows[0]["metadata"]) == {"variant": "B"}
    assert rows[0]["timestamp"] == T0
    assert rows[0]["input_tokens"] == 10


def test_feedback_export_follows_the_interaction_filter(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "feedback.parquet"
    write_parquet(seeded, path, "feedback", InteractionFilter(feature="chat"))
    kinds = sorted(row["feedback_type"] for row in pq.read_table(path).to_pylist())
    assert kinds == ["report", "thumbs_up"]
    assert count_rows(seeded, "feedback") == 6


def test_csv_neutralises_formulas(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    assert write_csv(seeded, path, "interactions") == 10
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    inputs = {row["user_input"] for row in rows}
    assert inputs == {neutralise(text) for text in HOSTILE}
    assert all(not text.startswith(("=", "+", "-", "@", "\t", "\r")) for text in inputs)
    assert "safe" in inputs
    assert rows[0]["input_tokens"] == "10"
    stream = io.StringIO()
    write_csv(seeded, stream, "feedback")
    comments = [row["comment"] for row in csv.DictReader(io.StringIO(stream.getvalue()))]
    assert "'=cmd|' /C calc'!A0" in comments


def test_pages_visit_every_row_once_across_equal_timestamps(seeded: Store) -> None:
    seen = [
        row["interaction_id"]
        for page in iter_rows(seeded, "interactions", page_rows=3)
        for row in page
    ]
    assert len(seen) == len(set(seen)) == 10
    assert seen == sorted(seen)  # ordered by (timestamp, id), and the IDs follow the time


def test_dataframes(duck_seeded: Store) -> None:
    frame = to_dataframe(duck_seeded, InteractionFilter(feature="chat"))
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 5 and set(frame["feature"]) == {"chat"}
    polars_frame = to_dataframe(duck_seeded, None, kind="feedback", library="polars")
    assert isinstance(polars_frame, pl.DataFrame)
    assert polars_frame.height == 6
    assert polars_frame.schema["value"] == pl.Float64
    with pytest.raises(ValueError, match="kind"):
        to_dataframe(duck_seeded, kind="alerts")  # type: ignore[arg-type]


def test_phoenix_span_annotations(duck_seeded: Store) -> None:
    counts = AnnotationExport()
    annotations = list(phoenix_annotations(duck_seeded, counts=counts))
    assert (counts.exported, counts.skipped) == (5, 1)
    by_span = {a["span_id"]: a for a in annotations}
    down = by_span[f"{1:016x}"]
    assert down["name"] == "user_feedback"
    assert down["annotator_kind"] == "HUMAN"
    assert down["result"] == {
        "label": "thumbs_down",
        "score": 0.0,
        "explanation": down["result"]["explanation"],
    }
    assert set(down) == {"span_id", "name", "annotator_kind", "result", "metadata", "identifier"}
    assert by_span[f"{3:016x}"]["result"]["score"] == 4.0
    assert by_span[f"{4:016x}"]["annotator_kind"] == "LLM"
    assert by_span[f"{4:016x}"]["result"]["label"] == "wrong"
    assert by_span[f"{5:016x}"]["annotator_kind"] == "CODE"


def test_langfuse_scores(duck_seeded: Store) -> None:
    scores = {s["observationId"]: s for s in langfuse_scores(duck_seeded)}
    assert len(scores) == 5
    down = scores[f"{1:016x}"]
    assert down["traceId"] == f"{1:032x}"
    assert (down["name"], down["value"], down["dataType"]) == ("user_feedback", 0.0, "BOOLEAN")
    assert down["comment"] == "=cmd|' /C calc'!A0"
    assert (scores[f"{3:016x}"]["value"], scores[f"{3:016x}"]["dataType"]) == (4.0, "NUMERIC")
    report = scores[f"{4:016x}"]
    assert (report["name"], report["value"], report["dataType"]) == (
        "report",
        "wrong",
        "CATEGORICAL",
    )
    assert set(down) <= {
        "id",
        "traceId",
        "observationId",
        "name",
        "value",
        "dataType",
        "comment",
        "metadata",
    }
