"""DuckDB settings carried by the store URL (``duckdb:///path?memory_limit=...``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptloop.cli.main import app
from promptloop.exceptions import ConfigError
from promptloop.store import open_store


def test_url_options_become_duckdb_settings_and_stay_in_the_url(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/p.duckdb?memory_limit=300MB&threads=1"
    store = open_store(url)
    try:
        row = store.fetch_all(
            "SELECT current_setting('memory_limit') AS memory, current_setting('threads') AS n"
        )[0]
        assert row["memory"].startswith("286")  # 300 MB in MiB
        assert row["n"] == 1
        assert store.url == url  # a subprocess handed the URL opens it the same way
    finally:
        store.close()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("memory_lmit=1GB", "'memory_lmit'"),
        ("memory_limit=lots", "memory_limit"),
        ("threads", "'threads'"),
        ("threads=1&threads=2", "repeat"),
    ],
)
def test_a_bad_option_is_a_configuration_error_naming_it(query: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        open_store(f"duckdb:///:memory:?{query}")


def test_the_cli_refuses_a_bad_option_with_exit_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--store", f"duckdb:///{tmp_path}/p.duckdb?memory_lmit=1GB", "stats"]
    )
    assert result.exit_code == 2
    assert "memory_lmit" in result.output
