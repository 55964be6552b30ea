"""Prompts as files: front matter, YAML, and every git commit becoming a version."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from promptloop.core.prompts import PromptVersion
from promptloop.prompts import PromptRegistry
from promptloop.prompts.files import parse_prompt_file, sync_directory
from promptloop.store import Store


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Ann Engineer", "-c", "user.email=ann@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def _register(registry: PromptRegistry) -> Any:
    def register(
        name: str, template: str, settings: dict[str, Any], **kw: Any
    ) -> tuple[PromptVersion, bool]:
        result = registry.register(name, template, settings, **kw)
        return result.version, result.created

    return register


def test_front_matter_and_yaml_files_parse(tmp_path: Path) -> None:
    text = "---\nmodel: m\ntemperature: 0.2\nrationale: shorter\n---\nSummarise {{text}}.\n"
    parsed = parse_prompt_file("summarize", tmp_path / "summarize.md", text)
    assert parsed.settings == {"model": "m", "temperature": 0.2}
    assert parsed.template == "Summarise {{text}}.\n" and parsed.rationale == "shorter"
    plain = parse_prompt_file("p", tmp_path / "p.txt", "Just text")
    assert (plain.template, plain.settings) == ("Just text", {})
    yaml_file = parse_prompt_file(
        "x", tmp_path / "x.yaml", "name: triage\ntemplate: Hi\nsettings:\n  top_p: 0.9\n"
    )
    assert (yaml_file.name, yaml_file.settings) == ("triage", {"top_p": 0.9})
    with pytest.raises(ValueError, match="unknown front matter key"):
        parse_prompt_file("p", tmp_path / "p.md", "---\nmodle: m\n---\nx")
    with pytest.raises(ValueError, match="never closed"):
        parse_prompt_file("p", tmp_path / "p.md", "---\nmodel: m\nx")


def test_each_commit_becomes_a_version_with_its_message_as_rationale(
    store: Store, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    prompts = repo / "prompts"
    (prompts / "support").mkdir(parents=True)
    _git(repo, "init", "-q")
    target = prompts / "support" / "triage.md"
    for body, message in [
        ("Classify the ticket.", "Add triage prompt"),
        (
            "Classify the ticket into billing, bug or other.",
            "Name the categories: 30% were 'other'",
        ),
        (
            "Classify the ticket into billing, bug or other. Answer with one word.",
            "One-word answers: parsing failed on 4% of outputs",
        ),
    ]:
        target.write_text(f"---\nmodel: m\n---\n{body}\n")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", message)
    registry = PromptRegistry(store)
    results = sync_directory(_register(registry), prompts)
    assert [(r.version, r.created) for r in results] == [
        ("1.0.0", True),
        ("1.1.0", True),
        ("1.2.0", True),
        ("1.2.0", False),
    ]
    versions = registry.versions("support/triage")
    assert [v.rationale for v in versions[1:]] == [
        "Name the categories: 30% were 'other'",
        "One-word answers: parsing failed on 4% of outputs",
    ]
    assert all(v.commit_sha and v.author == "Ann Engineer" for v in versions)

    assert all(not r.created for r in sync_directory(_register(registry), prompts))

    target.write_text("---\nmodel: m\n---\nClassify. One word.\n")
    with pytest.raises(ValueError, match="rationale is required"):
        sync_directory(_register(registry), prompts)
    done = sync_directory(_register(registry), prompts, rationale="Shorter", author="bob")
    assert (done[-1].version, done[-1].created, done[-1].commit_sha) == ("1.3.0", True, None)


def test_a_folder_outside_git_registers_the_working_copies(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "b.yaml").write_text("template: B\nmodel: m\n")
    (tmp_path / ".hidden.txt").write_text("no")
    (tmp_path / "notes.json").write_text("{}")
    results = sync_directory(_register(PromptRegistry(store)), tmp_path)
    assert [(r.name, r.version) for r in results] == [("a", "1.0.0"), ("b", "1.0.0")]
