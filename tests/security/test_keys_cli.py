"""``promptloop keys`` on a store and through a collector, with the keys it prints."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from promptloop.store import open_store
from tests.cli.conftest import cli, running_collector


def test_create_list_rotate_revoke_on_the_store(tmp_path: Path) -> None:
    store = f"duckdb:///{tmp_path}/keys.duckdb"
    created = cli(
        ["--store", store, "keys", "create", "checkout-app", "--scope", "ingest", "--json"]
    )
    assert created.exit_code == 0, created.output
    first = json.loads(created.stdout)
    assert first["api_key"].startswith("pl_") and first["scope"] == "ingest"
    listed = json.loads(cli(["--store", store, "keys", "list", "--json"]).stdout)["keys"]
    assert [k["key_id"] for k in listed] == [first["key_id"]]
    assert first["api_key"] not in json.dumps(listed)
    rotated = cli(
        ["--store", store, "keys", "rotate", first["key_id"], "--grace-hours", "0", "--json"]
    )
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.stdout)["new"]
    revoked = cli(["--store", store, "keys", "revoke", new["key_id"], "--json"])
    assert json.loads(revoked.stdout)["active"] is False
    states = {
        k["key_id"]: k["active"]
        for k in json.loads(cli(["--store", store, "keys", "list", "--json"]).stdout)["keys"]
    }
    assert states == {first["key_id"]: False, new["key_id"]: False}
    refused = cli(["--store", store, "keys", "create", "x", "--scope", "root"])
    assert refused.exit_code == 2 and "--scope" in refused.stderr


def test_keys_through_the_collector_need_an_admin_key(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path}/remote.duckdb")
    with running_collector(store, tmp_path / "data", frozenset({"admin-key-from-settings"})) as url:
        made = cli(
            [
                "--url",
                url,
                "--api-key",
                "admin-key-from-settings",
                "keys",
                "create",
                "bi",
                "--scope",
                "read",
                "--json",
            ]
        )
        assert made.exit_code == 0, made.output
        read_key = json.loads(made.stdout)["api_key"]
        assert (
            httpx.get(
                f"{url}/v1/stats", headers={"Authorization": f"Bearer {read_key}"}
            ).status_code
            == 200
        )
        refused = cli(["--url", url, "--api-key", read_key, "keys", "list"])
        assert refused.exit_code == 1 and "403" in refused.stderr
    store.close()
