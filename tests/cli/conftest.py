"""Fixtures for the CLI tests: a small known dataset on real stores, and real collectors.

The dataset's IDs and prompt versions are the ones docs/cli.md uses in its examples, so the
documented commands run unchanged against it (``test_docs.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import threading
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from promptloop.cli.main import app
from promptloop.core.records import FeedbackEvent, Interaction
from promptloop.prompts import PromptRegistry
from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from promptloop.store import Store, open_store

# IDs used in docs/cli.md.
SHOWN_ID = "3f1c2a9e-5b7d-4c1e-9f0a-6d2b8e4c7a11"
EARLY_FEEDBACK_ID = "9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"  # feedback, no interaction stored
API_KEY = "test-key-1"
SECRET_SYSTEM_PROMPT = "You are [bold]the support assistant[/bold] of Acme."


@dataclass(frozen=True)
class Dataset:
    interactions: list[Interaction]
    feedback: list[FeedbackEvent]
    now: datetime


def _interaction(now: datetime, hours_ago: float, number: int, **fields: Any) -> Interaction:
    base: dict[str, Any] = {
        "interaction_id": f"00000000-0000-4000-8000-{number:012d}",
        "session_id": "sess-1",
        "user_id": "u_7f3a",
        "feature": "support-chat",
        "prompt_name": "support-assistant",
        "prompt_version": "v1.4",
        "model": "claude-sonnet-4-20250514",
        "system_prompt": SECRET_SYSTEM_PROMPT,
        "raw_output": "Here is how.",
        "input_tokens": 100,
        "output_tokens": 50,
        "latency_ms": 800.0,
        "cost_usd": 0.002,
        "timestamp": now - timedelta(hours=hours_ago),
    }
    base.update(fields)
    return Interaction.model_validate(base)


def _event(target: Interaction, kind: str, minutes: float = 1, **fields: Any) -> FeedbackEvent:
    stamp = target.timestamp + timedelta(minutes=minutes)
    return FeedbackEvent.model_validate(
        {
            "interaction_id": target.interaction_id,
            "feedback_type": kind,
            "timestamp": stamp,
            **fields,
        }
    )


def build_dataset(now: datetime | None = None) -> Dataset:
    """Two prompt versions of one feature, with every kind of signal the queries look at."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    shown = _interaction(
        now,
        2,
        0,
        interaction_id=SHOWN_ID,
        user_input="What integrations do you support?",
        raw_output="We support Zapier, Slack and Jira.",
        metadata={"ab_variant": "B", "flag": True},
    )
    fix_a = _interaction(now, 3, 1, user_input="How do I fix it?")
    fix_b = _interaction(now, 4, 2, user_input="  how do I fix it? ", session_id="sess-2")
    summary = _interaction(
        now, 1, 3, prompt_version="v1.5", user_input="Summarize this thread", session_id="sess-3"
    )
    fix_new = _interaction(now, 0.5, 4, prompt_version="v1.5", user_input="How do I fix it?")
    old = _interaction(now, 24 * 20, 5, user_input="An old complaint", prompt_version="v1.3")
    email = _interaction(
        now, 5, 6, feature="email-draft", prompt_name="email-writer", prompt_version="2", model="m2"
    )
    feedback = [
        _event(shown, "thumbs_down", 1, category="wrong", comment="We do not support Zapier"),
        _event(shown, "regenerate", 2),
        _event(shown, "regenerate", 3),
        _event(fix_a, "regenerate", 1),
        _event(fix_a, "regenerate", 2),
        _event(fix_a, "thumbs_down", 3, category="unhelpful"),
        _event(fix_b, "rating", 1, value=1),
        _event(summary, "thumbs_up", 1),
        _event(summary, "copy", 2),
        _event(fix_new, "edit", 1, user_edit="Restart the app, then retry."),
        _event(old, "thumbs_down", 1),
        _event(email, "abandon", 1),
        _event(email, "follow_up", 2, source="inferred"),
        FeedbackEvent.model_validate(
            {
                "interaction_id": EARLY_FEEDBACK_ID,
                "feedback_type": "thumbs_up",
                "timestamp": now - timedelta(minutes=5),
            }
        ),
    ]
    return Dataset([shown, fix_a, fix_b, summary, fix_new, old, email], feedback, now)


def fill(store: Store, dataset: Dataset) -> Store:
    store.insert_interactions(dataset.interactions)
    store.insert_feedback(dataset.feedback)
    register_history(store, dataset.now)
    return store


# -- the registry's side of the dataset: a prompt with a changelog ------------------------
PROMPT = "support-assistant"
MODEL = "claude-sonnet-4-20250514"
TEMPLATE_1 = "You are the support assistant of Acme. Answer the customer: {{question}}\n"
TEMPLATE_2 = (
    "You are the support assistant of Acme. Only name integrations listed in "
    "{{integrations}}. Answer the customer: {{question}}\n"
)
TEMPLATE_3 = TEMPLATE_2 + "Answer in at most three sentences.\n"


@dataclass
class Clock:
    """A registry clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def register_history(store: Store, now: datetime) -> None:
    """support-assistant 1.0.0 -> 1.2.0, promoted three times, rolled back once, staged."""
    clock = Clock(now)
    registry = PromptRegistry(store, clock=clock)
    settings = {"model": MODEL, "temperature": 0.3}
    registry.register(
        PROMPT, TEMPLATE_1, settings, author="alice", created_at=now - timedelta(days=20)
    )
    registry.register(
        PROMPT,
        TEMPLATE_2,
        settings,
        rationale="Answers invented integrations (Zapier) that Acme does not support.",
        failure_mode="hallucinated integrations",
        evidence=[
            {"kind": "feedback_query", "ref": "promptloop query negative-inputs --days 14"},
            {"kind": "interaction", "ref": SHOWN_ID},
        ],
        author="alice",
        created_at=now - timedelta(days=10),
    )
    registry.register(
        PROMPT,
        TEMPLATE_3,
        {**settings, "temperature": 0.2},
        rationale="Users shortened 40% of answers before copying them.",
        failure_mode="answers too long",
        evidence=[{"kind": "eval_run", "ref": "eval-2026-11-24"}],
        author="bob",
        created_at=now - timedelta(days=2),
    )
    for days, version, label, actor, reason in (
        (19, "1.0.0", "production", "alice", "first release"),
        (9, "1.1.0", "production", "alice", "no invented integrations in staging"),
        (1.5, "1.2.0", "staging", "bob", "try shorter answers"),
        (1, "1.2.0", "production", "bob", "ship shorter answers"),
    ):
        clock.now = now - timedelta(days=days)
        registry.promote(PROMPT, version, label=label, actor=actor, reason=reason)
    clock.now = now - timedelta(hours=12)
    registry.rollback(PROMPT, actor="carol", reason="regenerations up 30% on 1.2.0")


# -- prompt files in a git work tree ------------------------------------------------------
SUMMARIZER_V1 = "Summarise {{text}}.\n"
SUMMARIZER_V2 = "---\ntemperature: 0.2\n---\nSummarise {{text}} in three bullets.\n"
SUPPORT_FILE = (
    f"---\nmodel: {MODEL}\ntemperature: 0.2\n---\n" + TEMPLATE_3 + "Never promise refunds.\n"
)
REPLY_YAML = "template: 'Draft a reply to {{email}}.'\nmodel: m2\n"
COMMITS_START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def git(repo: Path, *args: str, author: str = "Dana", when: datetime | None = None) -> str:
    """Run git in ``repo`` as ``author``, without touching any global configuration."""
    stamp = (when or datetime.now(UTC)).isoformat()
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    done = subprocess.run(
        ["git", "-c", f"user.name={author}", "-c", f"user.email={author.lower()}@example.com",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=repo, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


_COMMIT_TIMES = itertools.count()


def commit(repo: Path, files: Mapping[str, str], message: str, author: str = "Dana") -> str:
    """Write ``files`` and commit them a minute after the previous commit; the new SHA.

    Commits made by a test within one second would otherwise share their timestamp.
    """
    for name, content in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    when = COMMITS_START + timedelta(minutes=next(_COMMIT_TIMES))
    git(repo, "add", *files, author=author)
    git(repo, "commit", "-q", "-m", message, author=author, when=when)
    return git(repo, "rev-parse", "HEAD").strip()


def prompt_repo(root: Path) -> Path:
    """A git work tree: the summarizer edited twice, the support prompt, a YAML prompt."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    commit(root, {"summarizer.txt": SUMMARIZER_V1}, "First summarizer prompt")
    commit(
        root,
        {"summarizer.txt": SUMMARIZER_V2},
        "Summaries were too long: three bullets, cooler temperature",
        author="Eve",
    )
    files = {"support-assistant.md": SUPPORT_FILE, "email/reply.yaml": REPLY_YAML}
    commit(root, files, "Never promise refunds; add the email reply prompt")
    return root


@pytest.fixture
def dataset() -> Dataset:
    return build_dataset()


@pytest.fixture
def duck_url(tmp_path: Path, dataset: Dataset) -> str:
    """A DuckDB file holding the dataset, closed so the CLI can open it."""
    url = f"duckdb:///{tmp_path}/promptloop.duckdb"
    fill(open_store(url), dataset).close()
    return url


@pytest.fixture
def pg_data_url(pg_url: str, dataset: Dataset) -> str:
    fill(open_store(pg_url), dataset).close()
    return pg_url


# -- the demo generator's API, faked -----------------------------------------------------
@dataclass
class FakeDemo:
    """``load_demo`` / ``demo_is_loaded`` with the generator's signature."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def load_demo(
        self, store: Store, *, interactions: int = 20_000, end: Any = None, seed: int = 7
    ) -> dict[str, Any]:
        self.calls.append({"interactions": interactions, "seed": seed, "end": end})
        now = datetime.now(UTC)
        rows = [
            Interaction(
                interaction_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo/{seed}/{n}")),
                feature="demo",
                prompt_name="demo-prompt",
                prompt_version=f"v{1 + n % 2}",
                user_input=f"question {n}",
                timestamp=now - timedelta(minutes=n),
            )
            for n in range(interactions)
        ]
        stored = sum(
            store.insert_interactions(rows[i : i + 1000]) for i in range(0, len(rows), 1000)
        )
        return {"interactions": stored, "feedback_events": 0, "prompt_versions": 2}

    def demo_is_loaded(self, store: Store) -> bool:
        rows = store.fetch_all(
            "SELECT count(*) AS n FROM llm_interaction_logs WHERE feature = 'demo'"
        )
        return int(rows[0]["n"]) > 0


@pytest.fixture
def fake_demo(monkeypatch: pytest.MonkeyPatch) -> FakeDemo:
    fake = FakeDemo()
    module = types.ModuleType("promptloop.demo.simulate")
    module.load_demo = fake.load_demo  # type: ignore[attr-defined]
    module.demo_is_loaded = fake.demo_is_loaded  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "promptloop.demo.simulate", module)
    return fake


# -- a real collector on a real socket ----------------------------------------------------
@contextlib.contextmanager
def running_collector(
    store: Store, data_dir: Path, api_keys: frozenset[str] = frozenset()
) -> Iterator[str]:
    """Serve ``create_app`` with uvicorn in a thread on 127.0.0.1; yield its base URL.

    The socket is bound and listening before the thread starts, so a request made at once
    waits in the backlog until the app is up: no polling, no sleeping.
    """
    settings = Settings(store_url=store.url, api_keys=api_keys, data_dir=data_dir, fsync=False)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, store=store), log_level="warning", lifespan="on")
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def collector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A collector without authentication, serving the dataset."""
    store = fill(open_store("duckdb:///:memory:"), build_dataset())
    with running_collector(store, tmp_path_factory.mktemp("collector")) as url:
        yield url
    store.close()


@pytest.fixture(scope="module")
def keyed_collector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A collector that requires ``Authorization: Bearer test-key-1``."""
    store = fill(open_store("duckdb:///:memory:"), build_dataset())
    data_dir = tmp_path_factory.mktemp("keyed")
    with running_collector(store, data_dir, frozenset({API_KEY})) as url:
        yield url
    store.close()


_HOLD_LOCK = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
    "print('locked', flush=True); sys.stdin.read()"
)


@pytest.fixture
def locked_store(duck_url: str) -> Iterator[str]:
    """The dataset's DuckDB file, held open for writing by another process."""
    path = duck_url.removeprefix("duckdb:///")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield duck_url
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()


# -- running the CLI ---------------------------------------------------------------------
_CLEAN_ENV: dict[str, str | None] = {
    "USER": "dana",
    "USERNAME": None,
    "PROMPTLOOP_STORE": None,
    "PROMPTLOOP_URL": None,
    "PROMPTLOOP_API_KEY": None,
    "PROMPTLOOP_API_KEYS": None,
    "PROMPTLOOP_DATA_DIR": None,
    "PROMPTLOOP_DEMO_ENABLED": None,
    "PROMPTLOOP_CORS_ORIGINS": None,
    "PROMPTLOOP_FEEDBACK_SECRET": None,
    "NO_COLOR": None,
    "FORCE_COLOR": None,
    "COLUMNS": "200",
}


def cli(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Result:
    """Run ``promptloop ARGS`` in-process with a clean environment."""
    return CliRunner().invoke(app, list(args), env={**_CLEAN_ENV, **(env or {})})
