"""Local disk spool for batches the collector could not take: one JSONL file per batch.

A file is named ``<time_ns>-<pid>-<rand>.<kind>.jsonl`` (kind: ``interactions`` or
``feedback``), holds one already-encoded JSON record per line and is written to a temporary
name, then renamed, so a reader never sees half a file. To replay, a process claims a file
by renaming it to ``*.replaying``; claims older than ``STALE_CLAIM_SECONDS`` (a process that
died mid-replay) may be taken over. The folder holds at most ``max_bytes``: a write that
would pass it first deletes the oldest batches (counted in ``evicted`` and logged).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger("promptloop")

KINDS = ("interactions", "feedback")
SUFFIX = ".jsonl"
CLAIMED = ".replaying"
STALE_CLAIM_SECONDS = 600.0


class Spool:
    """Append-only batch files under ``directory``.

    >>> import tempfile
    >>> spool = Spool(Path(tempfile.mkdtemp()))
    >>> path = spool.write("feedback", [b'{"a":1}'])
    >>> [kind for kind, _ in spool.pending()]
    ['feedback']
    """

    def __init__(self, directory: Path, max_bytes: int = 200_000_000) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.evicted = 0  # records dropped to make room for newer ones

    def _size(self) -> int:
        total = 0
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        continue
        except FileNotFoundError:
            return 0
        return total

    def write(self, kind: str, lines: Sequence[bytes]) -> Path | None:
        """Persist one batch; ``None`` when it cannot fit even in an empty spool.

        When the spool is full, the oldest batches are deleted to make room (the newest
        events are the most useful once the collector is back); ``evicted`` counts the
        records lost that way, for the caller to report.
        """
        payload = b"\n".join(lines) + b"\n"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if len(payload) > self.max_bytes:
            logger.error(
                "promptloop spool %s cannot hold a batch of %d bytes; dropping %d records",
                self.directory,
                len(payload),
                len(lines),
            )
            return None
        self._make_room(len(payload))
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.{kind}{SUFFIX}"
        final = self.directory / name
        tmp = self.directory / (name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(final)
        return final

    def _make_room(self, needed: int) -> None:
        excess = self._size() + needed - self.max_bytes
        if excess <= 0:
            return
        for name in sorted(entry.name for entry in os.scandir(self.directory)):
            if excess <= 0:
                break
            if not name.endswith(SUFFIX):
                continue  # batches being replayed (or half-written) are not ours to drop
            path = self.directory / name
            try:
                data = path.read_bytes()
                path.unlink()
            except OSError:
                continue
            excess -= len(data)
            dropped = data.count(b"\n")
            self.evicted += dropped
            logger.error(
                "promptloop spool %s is full (%d bytes): dropped its oldest %d records",
                self.directory,
                self.max_bytes,
                dropped,
            )

    def has_pending(self) -> bool:
        try:
            with os.scandir(self.directory) as entries:
                return any(e.name.endswith((SUFFIX, CLAIMED)) for e in entries)
        except FileNotFoundError:
            return False

    def pending(self) -> list[tuple[str, Path]]:
        """Spooled files, oldest first, with their kind; stale claims included."""
        found: list[tuple[str, Path]] = []
        try:
            names = sorted(entry.name for entry in os.scandir(self.directory))
        except FileNotFoundError:
            return found
        now = time.time()
        for name in names:
            path = self.directory / name
            if name.endswith(CLAIMED):
                try:
                    if now - path.stat().st_mtime < STALE_CLAIM_SECONDS:
                        continue
                except OSError:
                    continue
                base = name[: -len(CLAIMED)]
            elif name.endswith(SUFFIX):
                base = name
            else:
                continue
            kind = base[: -len(SUFFIX)].rsplit(".", 1)[-1]
            if kind in KINDS:
                found.append((kind, path))
        return found

    def claim(self, path: Path) -> Path | None:
        """Take a file for replay; ``None`` if another process got it first."""
        target = path if path.name.endswith(CLAIMED) else path.with_name(path.name + CLAIMED)
        try:
            path.replace(target)
            # Touch: the claim's age is what marks it stale.
            os.utime(target)
        except FileNotFoundError:
            return None
        return target

    def release(self, claimed: Path) -> None:
        """Give a claimed file back (its replay failed; try again later)."""
        original = claimed.with_name(claimed.name[: -len(CLAIMED)])
        with contextlib.suppress(FileNotFoundError):
            claimed.replace(original)

    @staticmethod
    def read(claimed: Path) -> list[bytes]:
        return [line for line in claimed.read_bytes().split(b"\n") if line.strip()]

    @staticmethod
    def remove(claimed: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            claimed.unlink()
