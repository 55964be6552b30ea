"""Prompts kept as files in git: each committed change becomes a version.

A prompt file is plain text (the template), optionally opened by YAML front matter::

    ---
    model: claude-sonnet-4-20250514
    temperature: 0.2
    rationale: Summaries were too long.
    ---
    Summarise {{text}} in three bullets.

or a YAML file with a ``template`` key. The prompt's name is the file's path under the
synced folder without its suffix (``support/triage.md`` -> ``support/triage``) unless the
front matter sets ``name``. Output-shaping keys (``model``, ``temperature``, ...) and a
``settings`` mapping form the settings that enter the content hash; ``rationale``,
``failure_mode``, ``evidence``, ``author`` and ``version`` describe the version.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from promptloop.core.prompts import PromptVersion

PROMPT_SUFFIXES = (".txt", ".md", ".prompt", ".yaml", ".yml")
SETTING_KEYS = frozenset(
    {
        "model",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "stop",
        "seed",
        "response_format",
        "presence_penalty",
        "frequency_penalty",
        "tools",
        "tool_choice",
    }
)
DESCRIPTIVE_KEYS = frozenset({"name", "rationale", "failure_mode", "evidence", "author", "version"})


@dataclass(frozen=True)
class PromptFile:
    name: str
    template: str
    settings: dict[str, Any] = field(default_factory=dict)
    rationale: str | None = None
    failure_mode: str | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    author: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class SyncResult:
    name: str
    version: str
    created: bool
    commit_sha: str | None
    path: str


# register(name, template, settings, **descriptive) -> (version, created)
Register = Callable[..., tuple[PromptVersion, bool]]


def parse_prompt_file(name: str, path: Path, text: str) -> PromptFile:
    """Parse one prompt file's text; ``name`` is used unless the file names itself."""
    if path.suffix in (".yaml", ".yml"):
        meta = yaml.safe_load(text) or {}
        if not isinstance(meta, dict) or not isinstance(meta.get("template"), str):
            raise ValueError(f"{path}: a YAML prompt file needs a 'template' string")
        template = meta.pop("template")
    else:
        meta, template = _split_front_matter(path, text)
    unknown = set(meta) - SETTING_KEYS - DESCRIPTIVE_KEYS - {"settings"}
    if unknown:
        raise ValueError(f"{path}: unknown front matter key(s): {', '.join(sorted(unknown))}")
    settings = dict(meta.get("settings") or {})
    settings.update({key: meta[key] for key in SETTING_KEYS if key in meta})
    return PromptFile(
        name=str(meta.get("name") or name),
        template=template,
        settings=settings,
        rationale=meta.get("rationale"),
        failure_mode=meta.get("failure_mode"),
        evidence=list(meta.get("evidence") or []),
        author=meta.get("author"),
        version=None if meta.get("version") is None else str(meta["version"]),
    )


def _split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], str]:
    normalized = text.replace("\r\n", "\n")
    if not normalized.startswith("---\n"):
        return {}, text
    end = normalized.find("\n---\n", 3)
    if end < 0:
        raise ValueError(f"{path}: front matter opened with '---' is never closed")
    meta = yaml.safe_load(normalized[4:end]) or {}
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: front matter must be a YAML mapping")
    return meta, normalized[end + 5 :]


def prompt_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(name, path) for every prompt file under ``directory``, in a stable order."""
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in PROMPT_SUFFIXES and not _hidden(path, directory):
            relative = path.relative_to(directory)
            yield relative.with_suffix("").as_posix(), path


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


@dataclass(frozen=True)
class _Commit:
    sha: str
    author: str
    when: datetime
    message: str


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _history(path: Path) -> list[_Commit]:
    """Commits that changed ``path``, oldest first (empty outside a git work tree)."""
    out = _git(
        path.parent, "log", "--reverse", "--format=%H%x1f%an%x1f%aI%x1f%B%x1e", "--", path.name
    )
    commits = []
    for record in (out or "").split("\x1e"):
        record = record.strip("\n")
        if record:
            sha, author, when, message = record.split("\x1f", 3)
            commits.append(_Commit(sha, author, datetime.fromisoformat(when), message.strip()))
    return commits


def _content_at(path: Path, sha: str) -> str | None:
    return _git(path.parent, "show", f"{sha}:./{path.name}")


def sync_directory(
    register: Register,
    directory: Path,
    *,
    rationale: str | None = None,
    author: str | None = None,
    use_git: bool = True,
) -> list[SyncResult]:
    """Register every prompt file: each git commit that changed one, then the working copy.

    A committed revision takes its rationale from the front matter, else from its commit
    message; the working copy from the front matter, else ``rationale``. Content already
    registered is recognised by its hash, so syncing again registers nothing new.
    """
    results: list[SyncResult] = []
    for name, path in prompt_files(directory):
        relative = path.relative_to(directory).as_posix()
        for commit in _history(path) if use_git else []:
            text = _content_at(path, commit.sha)
            if text is None:
                continue
            parsed = parse_prompt_file(name, path, text)
            version, created = register(
                parsed.name,
                parsed.template,
                parsed.settings,
                rationale=parsed.rationale or commit.message,
                failure_mode=parsed.failure_mode,
                evidence=parsed.evidence,
                author=parsed.author or commit.author,
                version=parsed.version,
                source="git",
                commit_sha=commit.sha,
                created_at=commit.when,
            )
            results.append(SyncResult(parsed.name, version.version, created, commit.sha, relative))
        parsed = parse_prompt_file(name, path, path.read_text(encoding="utf-8"))
        version, created = register(
            parsed.name,
            parsed.template,
            parsed.settings,
            rationale=parsed.rationale or rationale,
            failure_mode=parsed.failure_mode,
            evidence=parsed.evidence,
            author=parsed.author or author,
            version=parsed.version,
            source="file",
            commit_sha=None,
            created_at=None,
        )
        results.append(SyncResult(parsed.name, version.version, created, None, relative))
    return results
