"""schemathesis over the collector's OpenAPI spec: no 5xx, no schema violation.

Every operation of ``/openapi.json`` gets generated requests (valid and invalid by the
spec), sent to the collector served by uvicorn in a thread on 127.0.0.1, on a fresh DuckDB
store. The fast run uses a few derandomised examples per
operation; ``benchmarks/reliability_hostile.py`` sets ``PROMPTLOOP_FUZZ_EXAMPLES`` for many.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from promptloop.server.app import create_app
from tests.hostile.conftest import collector_settings
from tests.hostile.fuzz import LONG_RUN

# OTLP's protobuf body is covered by the OTLP engineer's decoder fuzzing (tests/otlp).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped test cases with unsupported payload media types:UserWarning"
)
EXAMPLES_PER_OPERATION = int(
    os.environ.get("PROMPTLOOP_SCHEMATHESIS_EXAMPLES", "100" if LONG_RUN else "2")
)
# Operations that call out of 127.0.0.1 (LLM providers named in the request) are left out:
# the tests never touch the network. Their input validation is covered in tests/evals.
OUTBOUND = {("POST", "/v1/evals/runs")}

_DIR = Path(tempfile.mkdtemp(prefix="promptloop-schemathesis-"))
APP = create_app(collector_settings(_DIR, f"duckdb:///{_DIR}/store.duckdb"))
# The fast run only fuzzes; the long run adds schemathesis' coverage and example phases.
_PHASES = {"coverage": {"enabled": LONG_RUN}, "examples": {"enabled": LONG_RUN}}
schema = schemathesis.openapi.from_dict(
    APP.openapi(), config=SchemathesisConfig.from_dict({"phases": _PHASES})
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The collector on a socket bound before the thread starts (no polling, no sleeps)."""
    server = uvicorn.Server(uvicorn.Config(APP, log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_no_schema_violation(
    case: schemathesis.Case[Any], base_url: str
) -> None:
    if (case.method.upper(), case.path) in OUTBOUND:
        pytest.skip("calls LLM providers outside 127.0.0.1")
    case.call_and_validate(
        base_url=base_url,
        timeout=120,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
