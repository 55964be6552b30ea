"""``GET /v1/exports/{kind}``: interactions or feedback as CSV or Parquet downloads, and
feedback as Phoenix span annotations or Langfuse scores (JSON lines or one JSON document).

Filters are those of ``GET /v1/interactions``. CSV and JSON lines stream page by page;
Parquet is written to a temporary file first (its footer comes last) and then sent.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from promptloop.analytics.queries import InteractionFilter
from promptloop.exports import (
    Kind,
    csv_chunks,
    langfuse_scores,
    phoenix_annotations,
    write_parquet,
)
from promptloop.exports.files import json_lines, write_records
from promptloop.server.api.query import FilterDep, StoreDep
from promptloop.server.auth import require_api_key
from promptloop.server.errors import APIError
from promptloop.store.base import Store

router = APIRouter(prefix="/v1", tags=["exports"], dependencies=[Depends(require_api_key)])


class ExportKind(StrEnum):
    interactions = "interactions"
    feedback = "feedback"
    phoenix = "phoenix"
    langfuse = "langfuse"


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"
    json = "json"


TABLE_FORMATS = (ExportFormat.csv, ExportFormat.parquet)
ANNOTATION_FORMATS = (ExportFormat.jsonl, ExportFormat.json)
_MEDIA = {
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.parquet: "application/vnd.apache.parquet",
    ExportFormat.jsonl: "application/x-ndjson",
    ExportFormat.json: "application/json",
}


def _table_kind(kind: ExportKind) -> Kind:
    return "feedback" if kind is ExportKind.feedback else "interactions"


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _parquet_file(store: Store, kind: ExportKind, filters: InteractionFilter) -> Path:
    handle, name = tempfile.mkstemp(prefix="promptloop-export-", suffix=".parquet")
    os.close(handle)
    path = Path(name)
    try:
        write_parquet(store, path, _table_kind(kind), filters)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _annotations(
    store: Store, kind: ExportKind, filters: InteractionFilter
) -> Iterator[dict[str, Any]]:
    if kind is ExportKind.phoenix:
        return phoenix_annotations(store, filters)
    return langfuse_scores(store, filters)


@router.get(
    "/exports/{kind}",
    summary="Download interactions or feedback (CSV, Parquet) or feedback for Phoenix/Langfuse",
    responses={
        200: {
            "description": "the file",
            "content": {media: {} for media in _MEDIA.values()},
        },
        422: {"description": "a format the kind does not come in, or a bad filter"},
    },
)
async def export(
    kind: ExportKind,
    store: StoreDep,
    filters: FilterDep,
    format: Annotated[
        ExportFormat | None,
        Query(description="csv or parquet for interactions/feedback; jsonl or json otherwise"),
    ] = None,
) -> Response:
    table = kind in (ExportKind.interactions, ExportKind.feedback)
    chosen = format or (ExportFormat.csv if table else ExportFormat.jsonl)
    allowed = TABLE_FORMATS if table else ANNOTATION_FORMATS
    if chosen not in allowed:
        raise APIError(
            422,
            "invalid_request",
            f"{kind.value} exports come as {' or '.join(f.value for f in allowed)}",
            field="format",
        )
    filename = f"{kind.value}.{chosen.value}"
    if chosen is ExportFormat.parquet:
        path = await run_in_threadpool(_parquet_file, store, kind, filters)
        return FileResponse(
            path,
            media_type=_MEDIA[chosen],
            filename=filename,
            background=BackgroundTask(path.unlink, missing_ok=True),
        )
    if chosen is ExportFormat.csv:
        return StreamingResponse(
            csv_chunks(store, _table_kind(kind), filters),
            media_type=_MEDIA[chosen],
            headers=_attachment(filename),
        )
    records = _annotations(store, kind, filters)
    if chosen is ExportFormat.jsonl:
        return StreamingResponse(
            json_lines(records), media_type=_MEDIA[chosen], headers=_attachment(filename)
        )
    return await run_in_threadpool(_json_document, kind, records, filename)


def _json_document(kind: ExportKind, records: Iterator[dict[str, Any]], filename: str) -> Response:
    """Phoenix's bulk endpoint takes ``{"data": [...]}``; Langfuse scores go as a list."""
    buffer = io.StringIO()
    write_records(records, buffer, "json", envelope="data" if kind is ExportKind.phoenix else None)
    return Response(
        buffer.getvalue(), media_type=_MEDIA[ExportFormat.json], headers=_attachment(filename)
    )
