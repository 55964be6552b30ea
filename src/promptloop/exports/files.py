"""Writing exports: Parquet (pyarrow), CSV safe to open in a spreadsheet, JSON lines.

CSV cells are neutralised against formula injection (OWASP): a text cell that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so a spreadsheet
shows it as text instead of evaluating it. Numbers and timestamps are written as they are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow.parquet as pq

from promptloop.analytics.queries import InteractionFilter
from promptloop.exports.tables import SCHEMAS, Kind, iter_batches
from promptloop.store.base import Store

Progress = Callable[[int], None]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A text cell a spreadsheet will not evaluate as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return value


def write_parquet(
    store: Store,
    path: Path | IO[bytes],
    kind: Kind,
    filters: InteractionFilter | None = None,
    *,
    progress: Progress | None = None,
) -> int:
    """Write one Parquet file (zstd), a row group per page; return the rows written."""
    written = 0
    with pq.ParquetWriter(path, SCHEMAS[kind], compression="zstd") as writer:
        for batch in iter_batches(store, kind, filters, progress=progress):
            writer.write_batch(batch)
            written += batch.num_rows
    return written


def csv_chunks(
    store: Store,
    kind: Kind,
    filters: InteractionFilter | None = None,
    *,
    progress: Progress | None = None,
) -> Iterator[str]:
    """The CSV text, a header first and then one chunk per page (for streaming responses)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SCHEMAS[kind].names)
    yield _take(buffer)
    for batch in iter_batches(store, kind, filters, progress=progress):
        columns = [column.to_pylist() for column in batch.columns]
        for row in zip(*columns, strict=True):
            writer.writerow([csv_cell(value) for value in row])
        yield _take(buffer)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def write_csv(
    store: Store,
    path: Path | IO[str],
    kind: Kind,
    filters: InteractionFilter | None = None,
    *,
    progress: Progress | None = None,
) -> int:
    """Write a CSV file (UTF-8, RFC 4180 quoting); return the data rows written."""
    counted = [0]

    def count(rows: int) -> None:
        counted[0] += rows
        if progress is not None:
            progress(rows)

    chunks = csv_chunks(store, kind, filters, progress=count)
    if isinstance(path, Path):
        with path.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(chunks)
    else:
        path.writelines(chunks)
    return counted[0]


Shape = Literal["jsonl", "json"]


def json_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False, default=str) + "\n"


def write_records(
    records: Iterable[dict[str, Any]],
    path: Path | IO[str],
    shape: Shape,
    *,
    envelope: str | None = None,
) -> int:
    """JSON lines (one record a line), or one JSON document: a list, or ``{envelope: [...]}``."""
    items = list(records) if shape == "json" else records
    handle = path.open("w", encoding="utf-8") if isinstance(path, Path) else path
    written = 0
    try:
        if shape == "jsonl":
            for line in json_lines(items):
                handle.write(line)
                written += 1
        else:
            assert isinstance(items, list)
            document: Any = {envelope: items} if envelope else items
            json.dump(document, handle, ensure_ascii=False, default=str, indent=1)
            handle.write("\n")
            written = len(items)
    finally:
        if isinstance(path, Path):
            handle.close()
    return written
