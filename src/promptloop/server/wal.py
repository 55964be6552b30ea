"""A write-ahead log that makes an acknowledged event durable before it reaches the store.

The collector appends each accepted batch (the request body as the client sent it, or the
valid items of a partly invalid batch) to the current segment and fsyncs it before it
answers, then writes to the store in larger batches off the request path. A segment is
deleted only after every record in it is in the store; on start-up, leftover segments are
replayed (ingest is idempotent, so replaying a segment that was partly stored is harmless).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

SEGMENT_GLOB = "wal-*.jsonl"


class WriteAheadLog:
    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._lock = threading.Lock()
        existing = sorted(self.segments())
        self._sequence = _sequence_of(existing[-1]) + 1 if existing else 1
        self._file = self._open_segment()

    def _segment_path(self, sequence: int) -> Path:
        return self.directory / f"wal-{sequence:012d}.jsonl"

    def _open_segment(self) -> Any:
        return self._segment_path(self._sequence).open("ab")

    def segments(self) -> list[Path]:
        return sorted(self.directory.glob(SEGMENT_GLOB))

    def append(self, kind: str, rows: list[dict[str, Any]]) -> Path:
        """Durably append one batch; return the segment it went to."""
        return self._write(orjson.dumps({"kind": kind, "rows": rows}) + b"\n")

    def append_raw(self, kind: str, rows_json: bytes, received: str) -> Path:
        """Durably append a batch as the client sent it: ``rows_json`` is a JSON array.

        The request body is written as is, not re-serialised from the validated records
        (that cost as much as validating). ``received`` (ISO 8601) is the time of receipt:
        replay gives records that carried no timestamp this one, as the live path did.
        Bytes 0x0A in valid JSON can only be whitespace (a newline inside a string is
        escaped), so turning them into spaces keeps one batch per line.
        """
        line = b"".join(
            (
                b'{"kind":"',
                kind.encode("ascii"),
                b'","received":"',
                received.encode("ascii"),
                b'","rows":',
                rows_json.replace(b"\n", b" "),
                b"}\n",
            )
        )
        return self._write(line)

    def _write(self, line: bytes) -> Path:
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
            return self._segment_path(self._sequence)

    def rotate(self) -> Path:
        """Start a new segment; return the one just closed (now safe to read)."""
        with self._lock:
            closed = self._segment_path(self._sequence)
            self._file.close()
            self._sequence += 1
            self._file = self._open_segment()
            return closed

    def current(self) -> Path:
        return self._segment_path(self._sequence)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_segment(path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Batches in a segment. A torn last line (a crash mid-write, never acknowledged) is skipped."""
    for kind, rows, _received in read_entries(path):
        yield kind, rows


def read_entries(path: Path) -> Iterator[tuple[str, list[dict[str, Any]], str | None]]:
    """``(kind, rows, received)`` per batch; ``received`` is None for re-serialised rows."""
    with path.open("rb") as handle:
        for line in handle:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            yield entry["kind"], entry["rows"], entry.get("received")


def _sequence_of(path: Path) -> int:
    return int(path.stem.split("-", 1)[1])
