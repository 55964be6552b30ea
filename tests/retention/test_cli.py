"""``promptloop users delete`` and ``promptloop retention apply`` on a store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from promptloop.sdk.hashing import UserHasher
from promptloop.store import open_store
from tests.cli.conftest import cli
from tests.support.records import T0, feedback, interaction


def _store_with(tmp_path: Path, *users: str) -> str:
    url = f"duckdb:///{tmp_path}/store.duckdb"
    store = open_store(url)
    calls = [
        interaction(user_id=user, timestamp=T0 - timedelta(days=n * 100))
        for n, user in enumerate(users)
    ]
    store.insert_interactions(calls)
    store.insert_feedback([feedback(call.interaction_id, "thumbs_up") for call in calls])
    store.close()
    return url


def _users(url: str) -> list[str]:
    store = open_store(url, migrate=False, read_only=True)
    try:
        rows = store.fetch_all("SELECT user_id FROM llm_interaction_logs ORDER BY user_id")
        return [row["user_id"] for row in rows]
    finally:
        store.close()


def test_delete_a_raw_user_id_hashed_with_the_sdk_key(tmp_path: Path) -> None:
    alice, bob = UserHasher("k1").hash("alice@example.com"), UserHasher("k1").hash("bob")
    url = _store_with(tmp_path, alice, bob)
    result = cli(
        ["--store", url, "users", "delete", "alice@example.com", "--raw", "--yes", "--json"],
        env={"PROMPTLOOP_HASH_KEY": "k1"},
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["user_id"] == alice
    assert body["deleted"]["llm_interaction_logs"] == 1
    assert body["deleted"]["feedback_events"] == 1
    assert _users(url) == [bob]


def test_delete_asks_first(tmp_path: Path) -> None:
    alice = UserHasher("k1").hash("alice")
    url = _store_with(tmp_path, alice)
    result = cli(["--store", url, "users", "delete", alice])
    assert result.exit_code == 1  # no answer: aborted
    assert _users(url) == [alice]


def test_raw_without_a_key_is_a_usage_error(tmp_path: Path) -> None:
    url = _store_with(tmp_path, "u_" + "a" * 32)
    result = cli(
        ["--store", url, "users", "delete", "alice", "--raw", "--yes"], env={"HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --hash-key:")


def test_retention_apply(tmp_path: Path) -> None:
    url = _store_with(tmp_path, "u_" + "a" * 32, "u_" + "b" * 32, "u_" + "c" * 32)
    # The rows are 0, 100 and 200 days older than T0: keep 150 days more than T0's age.
    keep = (datetime.now(UTC) - T0).days + 150
    rule = f"interactions={keep}"
    dry = cli(["--store", url, "retention", "apply", "--rule", rule, "--dry-run", "--json"])
    assert json.loads(dry.stdout)["deleted"]["llm_interaction_logs"] == 1
    assert len(_users(url)) == 3
    result = cli(["--store", url, "retention", "apply", "--rule", rule])
    assert result.exit_code == 0, result.output
    assert "retention: deleted" in result.stdout
    assert _users(url) == ["u_" + "a" * 32, "u_" + "b" * 32]
    bad = cli(["--store", url, "retention", "apply", "--rule", "prompts=3"])
    assert bad.exit_code == 2
    assert "no retention for table 'prompts'" in bad.stderr
