"""Start a throwaway PostgreSQL server on 127.0.0.1 for tests and benchmarks.

Uses the server binaries that ``pg_config --bindir`` names. PostgreSQL refuses to run as
root, so when we are root the cluster is created and run as the ``postgres`` system user.
The server is stopped by PID (through ``pg_ctl stop``, then a kill if needed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def _bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise PostgresUnavailable("pg_config not found: install Debian's postgresql package")
    out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    bindir = Path(out.stdout.strip())
    if not (bindir / "initdb").exists():
        raise PostgresUnavailable(f"no initdb in {bindir}: install the postgresql server package")
    return bindir


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    pid: int
    as_user: str | None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def _run(cmd: list[str], as_user: str | None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kwargs)  # type: ignore[call-overload,no-any-return]


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    as_user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="promptloop-pg-"))
    datadir = root / "data"
    sockdir = root / "sock"
    sockdir.mkdir()
    if as_user:
        shutil.chown(root, user=as_user)
        shutil.chown(sockdir, user=as_user)
    port = _free_port()
    server: PostgresServer | None = None
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            as_user,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockdir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100 -c shared_buffers=256MB"
        )
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir),
                "-o",
                options,
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            as_user,
        )
        pid = int((datadir / "postmaster.pid").read_text().splitlines()[0])
        server = PostgresServer(datadir=datadir, port=port, pid=pid, as_user=as_user)
        yield server
    finally:
        if server is not None:
            try:
                _run(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(datadir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                        "stop",
                    ],
                    as_user,
                )
            except subprocess.CalledProcessError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def create_database(server: PostgresServer, name: str) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.database_url(name)
