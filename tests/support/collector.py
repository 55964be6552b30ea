"""Run the real collector: in-process (TestClient) or as a separate process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_READY = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

_SERVE = """
import sys, uvicorn
from pathlib import Path
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
settings = Settings(
    store_url=sys.argv[1], data_dir=Path(sys.argv[2]), flush_interval=float(sys.argv[3]),
    api_keys=frozenset(k for k in sys.argv[4].split(",") if k),
)
uvicorn.run(create_app(settings), host="127.0.0.1", port=0, log_level="info")
"""


@dataclass
class CollectorProcess:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def collector_process(
    store_url: str, data_dir: Path, *, flush_interval: float = 0.5, api_keys: str = ""
) -> Iterator[CollectorProcess]:
    """Start the collector and wait (by reading its log, not by sleeping) until it listens."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, store_url, str(data_dir), str(flush_interval), api_keys],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    collector: CollectorProcess | None = None
    try:
        assert process.stderr is not None
        log: list[str] = []
        for line in process.stderr:  # ends when the process exits
            log.append(line)
            match = _READY.search(line)
            if match:
                collector = CollectorProcess(process, int(match.group(1)))
                break
        if collector is None:
            raise RuntimeError("collector did not start:\n" + "".join(log))
        # Keep draining the log so a full pipe never blocks the server.
        drain = threading.Thread(target=log.extend, args=(process.stderr,), daemon=True)
        drain.start()
        yield collector
    finally:
        if collector is not None:
            collector.stop()
        elif process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()
