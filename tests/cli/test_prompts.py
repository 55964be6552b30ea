"""``promptloop prompts`` in local mode, on real DuckDB stores (PostgreSQL: test_postgres.py)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import (
    PROMPT,
    SHOWN_ID,
    SUPPORT_FILE,
    cli,
    commit,
    git,
    prompt_repo,
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(store: str, *args: str, env: Mapping[str, str | None] | None = None) -> str:
    result = cli(["--store", store, *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_json(store: str, *args: str, env: Mapping[str, str | None] | None = None) -> Any:
    return json.loads(run(store, *args, "--json", env=env))


def refused(store: str, *args: str) -> str:
    """The one-line error of a command that must exit 2."""
    result = cli(["--store", store, *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A store that does not exist yet: the first write creates it."""
    return f"duckdb:///{tmp_path}/registry.duckdb"


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "greeter.md"
    path.write_text("---\nmodel: m1\ntemperature: 0.3\n---\nGreet {{name}}.\n", encoding="utf-8")
    return path


# -- push -----------------------------------------------------------------------------------
def test_push_creates_a_version_then_recognises_identical_content(
    store: str, prompt_file: Path
) -> None:
    first = run(store, "prompts", "push", str(prompt_file), "--name", "greeter")
    assert first.startswith("created greeter 1.0.0 (sha256:")
    again = run_json(store, "prompts", "push", str(prompt_file), "--name", "greeter")
    assert again["created"] is False and again["version"] == "1.0.0"
    assert again["settings"] == {"model": "m1", "temperature": 0.3}
    assert again["variables"] == ["name"]
    assert again["author"] == "dana"  # $USER
    assert again["source"] == "cli"
    table = run(store, "prompts", "push", str(prompt_file), "--name", "greeter")
    assert table.startswith("unchanged greeter 1.0.0") and "nothing registered" in table


def test_push_takes_the_name_from_the_file(store: str, tmp_path: Path, prompt_file: Path) -> None:
    assert run_json(store, "prompts", "push", str(prompt_file))["prompt_name"] == "greeter"
    named = tmp_path / "other.txt"
    named.write_text("---\nname: team/welcome\n---\nWelcome {{name}}.\n", encoding="utf-8")
    assert run_json(store, "prompts", "push", str(named))["prompt_name"] == "team/welcome"


def test_push_records_why_and_what_changed(store: str, prompt_file: Path) -> None:
    run(store, "prompts", "push", str(prompt_file), "--name", "greeter")
    prompt_file.write_text("Greet {{name}} warmly.\n", encoding="utf-8")
    args = ["prompts", "push", str(prompt_file), "--name", "greeter"]
    args += ["--rationale", "Greetings felt cold", "--failure-mode", "tone"]
    args += ["--evidence", "eval_run:run-42", "--evidence", "link:https://example.com/a?b=1"]
    args += ["--setting", "temperature=0.5", "--setting", "stop=[END]", "--setting", "model=m2"]
    args += ["--author", "erin", "--bump", "major"]
    found = run_json(store, *args)
    assert found["created"] is True and found["version"] == "2.0.0"
    assert found["rationale"] == "Greetings felt cold"
    assert found["failure_mode"] == "tone"
    assert found["evidence"] == [
        {"kind": "eval_run", "ref": "run-42", "note": None},
        {"kind": "link", "ref": "https://example.com/a?b=1", "note": None},
    ]
    assert found["settings"] == {"temperature": 0.5, "stop": ["END"], "model": "m2"}
    assert found["author"] == "erin"
    prompt_file.write_text("Greet {{name}} warmly and briefly.\n", encoding="utf-8")
    explicit = run_json(store, *args[:5], "--rationale", "Too long", "--version", "v3.1.4")
    assert explicit["version"] == "3.1.4"
    minor = ["--setting", "seed=1", "--rationale", "x"]
    assert run_json(store, *args[:5], *minor)["version"] == "3.2.0"  # minor by default


def test_push_without_a_rationale_names_the_option(store: str, prompt_file: Path) -> None:
    run(store, "prompts", "push", str(prompt_file), "--name", "greeter")
    prompt_file.write_text("Greet {{name}} by first name.\n", encoding="utf-8")
    line = refused(store, "prompts", "push", str(prompt_file), "--name", "greeter")
    assert line.startswith("error: --rationale: rationale is required")


def test_push_a_version_not_higher_is_a_conflict(store: str, prompt_file: Path) -> None:
    run(store, "prompts", "push", str(prompt_file), "--name", "greeter", "--version", "2.0.0")
    prompt_file.write_text("Hi {{name}}.\n", encoding="utf-8")
    args = ["prompts", "push", str(prompt_file), "--name", "greeter", "--rationale", "r"]
    result = cli(["--store", store, *args, "--version", "1.5.0"])
    assert result.exit_code == 1
    assert "version 1.5.0 is not higher than the latest, 2.0.0" in result.stderr


# -- the changelog: three edits, promoted, rolled back ---------------------------------------
def test_three_edits_promoted_and_rolled_back_show_the_whole_log(
    store: str, prompt_file: Path
) -> None:
    env = {"USER": "bob"}
    edits = [
        ("Greet {{name}}.\n", []),
        ("Greet {{name}} warmly.\n", ["--rationale", "Too cold", "--evidence", "note:survey"]),
        ("Greet {{name}} warmly, once.\n", ["--rationale", "Repeated greetings"]),
    ]
    for text, extra in edits:
        prompt_file.write_text(text, encoding="utf-8")
        run(store, "prompts", "push", str(prompt_file), "--name", "greeter", *extra, env=env)
    for version, reason in (("1.0.0", "first"), ("1.1.0", "warmer"), ("1.2.0", "ship")):
        run(store, "prompts", "promote", "greeter", version, "--reason", reason, env=env)
    rolled = run(
        store, "prompts", "rollback", "greeter", "--actor", "carol", "--reason", "complaints"
    )
    assert rolled.strip() == "greeter: rollback production 1.2.0 -> 1.1.0 by carol: complaints"

    text = run(store, "prompts", "log", "greeter")
    expected = [
        "rollback production 1.2.0 -> 1.1.0 by carol: complaints",
        "deploy production 1.1.0 -> 1.2.0 by bob: ship",
        "deploy production 1.0.0 -> 1.1.0 by bob: warmer",
        "deploy production (none) -> 1.0.0 by bob: first",
        "version 1.2.0",
        "Repeated greetings",
        "version 1.1.0",
        "Evidence: note survey",
        "Too cold",
        "version 1.0.0",
        "Initial version.",
    ]
    positions = [text.index(line) for line in expected]
    assert positions == sorted(positions), text  # newest first, in this order
    assert text.count("Author: bob") == 3

    log = run_json(store, "prompts", "log", "greeter")
    kinds = [(e["kind"], e.get("version") or e["to_version"]) for e in log["entries"]]
    assert kinds == [
        ("deployment", "1.1.0"),
        ("deployment", "1.2.0"),
        ("deployment", "1.1.0"),
        ("deployment", "1.0.0"),
        ("version", "1.2.0"),
        ("version", "1.1.0"),
        ("version", "1.0.0"),
    ]
    shown = run_json(store, "prompts", "show", "greeter", "--label", "production")
    assert shown["version"] == "1.1.0" and shown["labels"] == ["production"]


# -- reading the dataset's registry ----------------------------------------------------------
def test_list(duck_url: str) -> None:
    items = run_json(duck_url, "prompts", "list")["items"]
    assert [item["prompt_name"] for item in items] == [PROMPT]
    assert items[0]["versions"] == 3 and items[0]["latest_version"] == "1.2.0"
    assert items[0]["labels"] == {"production": "1.1.0", "staging": "1.2.0"}
    table = run(duck_url, "prompts", "list")
    assert "production=1.1.0, staging=1.2.0" in table and "1 prompts" in table


def test_show_latest_version_or_label(duck_url: str) -> None:
    latest = run_json(duck_url, "prompts", "show", PROMPT)
    assert latest["version"] == "1.2.0" and latest["labels"] == ["staging"]
    production = run_json(duck_url, "prompts", "show", PROMPT, "--label", "production")
    assert production["version"] == "1.1.0"
    assert production["evidence"][1] == {"kind": "interaction", "ref": SHOWN_ID, "note": None}
    text = run(duck_url, "prompts", "show", PROMPT, "--version", "1.1.0")
    for expected in (
        "support-assistant 1.1.0",
        "production",
        "hallucinated integrations",
        "Answers invented integrations (Zapier)",
        "feedback_query",
        "Only name integrations listed in {{integrations}}",
        '"temperature": 0.3',
    ):
        assert expected in text


def test_diff_is_coloured_unless_no_color(duck_url: str) -> None:
    plain = run(duck_url, "prompts", "diff", PROMPT, "1.1.0", "1.2.0")
    assert "+++ support-assistant@1.2.0/template" in plain
    assert "+Answer in at most three sentences." in plain
    assert '-  "temperature": 0.3' in plain and '+  "temperature": 0.2' in plain
    assert not _ANSI.search(plain)
    args = ["--store", duck_url, "prompts", "diff", PROMPT, "1.1.0", "1.2.0"]
    coloured = cli(args, env={"FORCE_COLOR": "1", "TERM": "xterm-256color"}).stdout
    assert "\x1b[32m+Answer in at most three sentences." in coloured  # green
    assert _ANSI.sub("", coloured) == plain
    found = run_json(duck_url, "prompts", "diff", PROMPT, "1.0.0", "v1.0.0")
    assert found["diff"].endswith("have identical content\n")


def test_dataset_log_interleaves_deployments(duck_url: str) -> None:
    text = run(duck_url, "prompts", "log", PROMPT)
    assert text.index("rollback production 1.2.0 -> 1.1.0 by carol") < text.index(
        "deploy production 1.1.0 -> 1.2.0 by bob: ship shorter answers"
    )
    assert text.index("deploy staging (none) -> 1.2.0 by bob") < text.index("version 1.2.0")
    assert text.index("version 1.2.0") < text.index("deploy production 1.0.0 -> 1.1.0")


def test_deployments_with_filters(duck_url: str, dataset: Any) -> None:
    every = run_json(duck_url, "prompts", "deployments")["items"]
    assert [item["to_version"] for item in every] == ["1.0.0", "1.1.0", "1.2.0", "1.2.0", "1.1.0"]
    staging = run_json(duck_url, "prompts", "deployments", PROMPT, "--label", "staging")
    assert [item["actor"] for item in staging["items"]] == ["bob"]
    since = (dataset.now.date()).isoformat()
    recent = run_json(duck_url, "prompts", "deployments", "--since", since)["items"]
    assert [item["action"] for item in recent] in (["rollback"], [])
    window = ["--since", "2000-01-01", "--until", "2000-02-01"]
    assert run_json(duck_url, "prompts", "deployments", *window)["items"] == []
    table = run(duck_url, "prompts", "deployments", PROMPT)
    assert "5 deployments of support-assistant" in table and "regenerations up 30%" in table


def test_unregistered_versions_seen_in_interactions(duck_url: str) -> None:
    items = run_json(duck_url, "prompts", "unregistered")["items"]
    found = {(item["prompt_name"], item["prompt_version"]): item["interactions"] for item in items}
    assert found == {
        (PROMPT, "v1.4"): 3,
        (PROMPT, "v1.5"): 2,
        (PROMPT, "v1.3"): 1,
        ("email-writer", "2"): 1,
    }
    recent = run_json(duck_url, "prompts", "unregistered", "--days", "14")["items"]
    assert (PROMPT, "v1.3") not in {(i["prompt_name"], i["prompt_version"]) for i in recent}
    table = run(duck_url, "prompts", "unregistered", "--since", "2000-01-01")
    assert "4 unregistered prompt versions" in table


def test_unknown_prompt_exits_1(duck_url: str) -> None:
    for args in (["log", "nope"], ["show", "nope"], ["promote", PROMPT, "9.9.9"]):
        result = cli(["--store", duck_url, "prompts", *args])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: ")
        assert "nope" in result.stderr or "9.9.9" in result.stderr
    nothing = cli(["--store", duck_url, "prompts", "rollback", PROMPT, "--label", "canary"])
    assert nothing.exit_code == 1 and "no label 'canary'" in nothing.stderr


def test_rollback_to_a_version_and_promote_a_custom_label(duck_url: str) -> None:
    to = run_json(duck_url, "prompts", "rollback", PROMPT, "--to", "1.0.0", "--reason", "x")
    assert (to["from_version"], to["to_version"], to["actor"]) == ("1.1.0", "1.0.0", "dana")
    canary = run_json(duck_url, "prompts", "promote", PROMPT, "1.2.0", "--label", "canary-eu")
    assert canary["label"] == "canary-eu" and canary["action"] == "promote"
    labels = run_json(duck_url, "prompts", "list")["items"][0]["labels"]
    assert labels == {"production": "1.0.0", "staging": "1.2.0", "canary-eu": "1.2.0"}


# -- sync -----------------------------------------------------------------------------------
def test_sync_registers_every_commit_with_its_message(store: str, tmp_path: Path) -> None:
    repo = prompt_repo(tmp_path / "prompts")
    report = run_json(store, "prompts", "sync", str(repo))
    created = [(i["name"], i["version"], i["created"]) for i in report["items"] if i["created"]]
    assert created == [
        ("email/reply", "1.0.0", True),
        ("summarizer", "1.0.0", True),
        ("summarizer", "1.1.0", True),
        ("support-assistant", "1.0.0", True),
    ]
    assert report["created"] == 4 and report["existing"] == 3  # the clean working copies
    log = run_json(store, "prompts", "log", "summarizer")["entries"]
    assert [(e["version"], e["author"], e["source"]) for e in log] == [
        ("1.1.0", "Eve", "git"),
        ("1.0.0", "Dana", "git"),
    ]
    assert log[0]["rationale"] == "Summaries were too long: three bullets, cooler temperature"
    last = git(repo, "log", "-1", "--format=%H", "--", "summarizer.txt").strip()
    assert log[0]["commit_sha"] == last
    again = run_json(store, "prompts", "sync", str(repo))
    assert again["created"] == 0


def test_sync_table_and_uncommitted_changes(store: str, tmp_path: Path) -> None:
    repo = prompt_repo(tmp_path / "prompts")
    table = run(store, "prompts", "sync", str(repo))
    assert f"synced {repo}: 4 new versions" in table
    row = r"summarizer\.txt\s+│\s+summarizer\s+│\s+1\.0\.0, 1\.1\.0\s+│\s+0\s+│\s+1\.1\.0"
    assert re.search(row, table), table
    (repo / "summarizer.txt").write_text("Summarise {{text}} in two bullets.\n", encoding="utf-8")
    line = refused(store, "prompts", "sync", str(repo))
    assert line.startswith("error: --rationale: summarizer (working copy): rationale is required")
    done = run_json(store, "prompts", "sync", str(repo), "--rationale", "Two is enough")
    new = [item for item in done["items"] if item["created"]]
    assert [(i["name"], i["version"], i["commit_sha"]) for i in new] == [
        ("summarizer", "1.2.0", None)
    ]
    latest = run_json(store, "prompts", "show", "summarizer")
    assert latest["rationale"] == "Two is enough"
    assert (latest["author"], latest["source"]) == ("dana", "file")
    sha = commit(repo, {"summarizer.txt": "Summarise {{text}} in two bullets.\n"}, "Two bullets")
    again = run_json(store, "prompts", "sync", str(repo))
    assert again["created"] == 0  # the commit's content is the version already registered
    assert sha


def test_sync_without_git_registers_only_the_working_copy(store: str, tmp_path: Path) -> None:
    repo = prompt_repo(tmp_path / "prompts")
    report = run_json(store, "prompts", "sync", str(repo), "--no-git")
    assert [(i["name"], i["version"]) for i in report["items"]] == [
        ("email/reply", "1.0.0"),
        ("summarizer", "1.0.0"),
        ("support-assistant", "1.0.0"),
    ]
    assert {i["commit_sha"] for i in report["items"]} == {None}


def test_sync_a_plain_folder(store: str, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "support-assistant.md").write_text(SUPPORT_FILE, encoding="utf-8")
    (folder / "notes.json").write_text("{}", encoding="utf-8")  # not a prompt file
    report = run_json(store, "prompts", "sync", str(folder), "--author", "frank")
    assert [i["name"] for i in report["items"]] == ["support-assistant"]
    assert run_json(store, "prompts", "show", "support-assistant")["author"] == "frank"


# -- bad input: exit 2, the option named -----------------------------------------------------
BAD_INPUTS = [
    ("push missing.md", "FILE: cannot read missing.md: No such file or directory"),
    ("push .", "FILE: cannot read .: Is a directory"),
    ("push {file} --version 1.2", "--version: version must be MAJOR.MINOR.PATCH"),
    ("push {file} --version 1.0.0 --bump patch", "--version: give --version or --bump"),
    ("push {file} --bump huge", "--bump: 'huge' is not one of: major, minor, patch"),
    ("push {file} --evidence hunch", "--evidence: 'hunch' is not KIND:REF"),
    ("push {file} --evidence vibes:yes", "--evidence: 'vibes:yes' is not KIND:REF"),
    ("push {file} --setting temperature", "--setting: 'temperature' is not KEY=VALUE"),
    ("push {file} --name 'has space'", "--name: 'has space': prompt name must be"),
    ("push {empty}", "FILE: template must not be empty"),
    ("push {broken}", "FILE: {broken}: front matter opened with '---' is never closed"),
    ("push {versioned}", "FILE: front matter version: version must be MAJOR.MINOR.PATCH"),
    ("show support-assistant --version 1.0.0 --label production", "--version: give --version or"),
    ("show support-assistant --label 'no good'", "--label: 'no good': label must be"),
    ("diff support-assistant 1.0 1.1.0", "V1: version must be MAJOR.MINOR.PATCH"),
    ("diff support-assistant 1.0.0 latest", "V2: version must be MAJOR.MINOR.PATCH"),
    ("promote support-assistant one", "VERSION: version must be MAJOR.MINOR.PATCH"),
    ("promote support-assistant 1.0.0 --label prod/eu", "--label: 'prod/eu': label must be"),
    ("rollback support-assistant --to previous", "--to: version must be MAJOR.MINOR.PATCH"),
    ("deployments --since 'last week'", "--since: 'last week' is not an ISO-8601"),
    ("deployments --until soon", "--until: 'soon' is not an ISO-8601"),
    ("unregistered --since 2026-01-01 --days 3", "--since: give --since or --days, not both"),
    ("sync {file}", "DIR: {file} is not a directory"),
    ("sync {badname}", "DIR: "),
]


@pytest.mark.parametrize(("args", "start"), BAD_INPUTS)
def test_bad_input_exits_2_naming_the_option(
    duck_url: str, tmp_path: Path, args: str, start: str
) -> None:
    paths = {
        "{file}": tmp_path / "ok.md",
        "{empty}": tmp_path / "empty.txt",
        "{broken}": tmp_path / "broken.md",
        "{badname}": tmp_path / "badname",
        "{versioned}": tmp_path / "versioned.md",
    }
    paths["{file}"].write_text("Hello {{name}}.\n", encoding="utf-8")
    paths["{empty}"].write_text("  \n", encoding="utf-8")
    paths["{broken}"].write_text("---\nmodel: m\nHello\n", encoding="utf-8")
    paths["{versioned}"].write_text("---\nversion: 1.0\n---\nHi.\n", encoding="utf-8")
    paths["{badname}"].mkdir()
    (paths["{badname}"] / "bad name.txt").write_text("Hi.\n", encoding="utf-8")

    def filled(text: str) -> str:
        for key, path in paths.items():
            text = text.replace(key, str(path))
        return text

    line = refused(duck_url, "prompts", *shlex.split(filled(args)))
    assert line.startswith("error: " + filled(start)), line


def test_bad_input_writes_nothing(duck_url: str, tmp_path: Path) -> None:
    before = run_json(duck_url, "prompts", "deployments")
    refused(duck_url, "prompts", "promote", PROMPT, "1.0.0", "--label", "bad label")
    assert run_json(duck_url, "prompts", "deployments") == before
