"""How the ``prompts`` commands draw the registry's JSON: versions, changelog, diffs, labels.

Every function takes the collector's JSON shapes (what either backend returns) and gives a
rich renderable; user text (templates, rationales, reasons) is :class:`~rich.text.Text`,
never markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from promptloop.cli import _output as out

HASH_CHARS = 12


def short_hash(digest: Any) -> str:
    """``sha256:4b1f0c2e9a7d`` from the full ``sha256:<64 hex>``."""
    if not digest:
        return "-"
    kind, _, hexdigest = str(digest).partition(":")
    return f"{kind}:{hexdigest[:HASH_CHARS]}" if hexdigest else str(digest)[:HASH_CHARS]


def registered(found: dict[str, Any]) -> Text:
    """What ``push`` did: a new version, or the existing one with identical content."""
    name, version = found["prompt_name"], found["version"]
    digest = short_hash(found.get("prompt_hash"))
    if found.get("created"):
        line = Text("created ", style="bold green")
        line.append(f"{name} {version}")
        line.append(f" ({digest})", style="dim")
        return line
    line = Text("unchanged ", style="bold yellow")
    line.append(f"{name} {version}")
    line.append(f" ({digest}) already has this content: nothing registered", style="dim")
    return line


# -- list -----------------------------------------------------------------------------------
def labels_text(labels: dict[str, Any]) -> Text:
    if not labels:
        return Text("-", style="dim")
    return Text(", ".join(f"{label}={version}" for label, version in sorted(labels.items())))


def prompts_table(items: list[dict[str, Any]]) -> Table:
    table = Table()
    table.add_column("prompt")
    table.add_column("versions", justify="right")
    table.add_column("latest", no_wrap=True)
    table.add_column("labels")
    table.add_column("updated", no_wrap=True)
    for item in items:
        table.add_row(
            out.text(item.get("prompt_name")),
            out.number(item.get("versions")),
            out.text(item.get("latest_version")),
            labels_text(item.get("labels") or {}),
            out.when(item.get("updated_at")),
        )
    return table


# -- show -----------------------------------------------------------------------------------
def version_details(found: dict[str, Any]) -> Group:
    """One version: facts, why it exists, its template and settings."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    for label, value in _facts(found):
        facts.add_row(label, value)
    settings = json.dumps(found.get("settings") or {}, indent=2, sort_keys=True, ensure_ascii=False)
    return Group(
        Panel(facts, title=f"{found['prompt_name']} {found['version']}", title_align="left"),
        Panel(out.text(found.get("rationale")), title="rationale", title_align="left"),
        Panel(evidence_table(found.get("evidence") or []), title="evidence", title_align="left"),
        Panel(
            Text(str(found.get("template") or "").rstrip("\n")),
            title="template",
            title_align="left",
        ),
        Panel(Text(settings), title="settings", title_align="left"),
    )


def _facts(found: dict[str, Any]) -> list[tuple[str, Text]]:
    labels = found.get("labels") or []
    return [
        ("hash", out.text(found.get("prompt_hash"))),
        ("labels", out.text(", ".join(labels) if labels else None)),
        ("author", out.text(found.get("author"))),
        ("created", out.when(found.get("created_at"))),
        ("source", out.text(_source(found))),
        ("variables", out.text(", ".join(found.get("variables") or []) or None)),
        ("failure mode", out.text(found.get("failure_mode"))),
    ]


def _source(found: dict[str, Any]) -> str:
    source = str(found.get("source") or "-")
    sha = found.get("commit_sha")
    return f"{source} (commit {str(sha)[:HASH_CHARS]})" if sha else source


def evidence_table(items: list[dict[str, Any]]) -> RenderableType:
    if not items:
        return Text("-", style="dim")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("kind", "reference", "note"):
        table.add_column(name)
    for item in items:
        table.add_row(
            out.text(item.get("kind")), out.text(item.get("ref")), out.text(item.get("note"))
        )
    return table


# -- diff -----------------------------------------------------------------------------------
_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def diff_text(diff: str) -> Text:
    """A unified diff, coloured like ``git diff`` (colour follows NO_COLOR / FORCE_COLOR)."""
    shown = Text()
    for line in diff.splitlines(keepends=True):
        style = next((style for prefix, style in _DIFF_STYLES if line.startswith(prefix)), "")
        shown.append(line, style=style)
    return shown


# -- log ------------------------------------------------------------------------------------
def deployment_line(entry: dict[str, Any]) -> Text:
    """``deploy production 1.2.0 -> 1.3.0 by bob: ship`` (or ``rollback ...``)."""
    rollback = entry.get("action") == "rollback"
    line = Text(
        "rollback" if rollback else "deploy", style="bold magenta" if rollback else "bold green"
    )
    before = entry.get("from_version") or "(none)"
    line.append(f" {entry.get('label')} {before} -> {entry.get('to_version')}")
    if entry.get("actor"):
        line.append(f" by {entry['actor']}")
    if entry.get("reason"):
        line.append(f": {entry['reason']}")
    return line


def changelog(entries: Iterable[dict[str, Any]]) -> Group:
    """Newest first, like ``git log``: versions with why they exist, deployments between."""
    parts: list[RenderableType] = []
    for entry in entries:
        if entry.get("kind") == "deployment":
            stamp = Text(f"Date:   {out.when(entry.get('timestamp')).plain}", style="dim")
            parts += [deployment_line(entry), stamp, Text("")]
        else:
            parts += _version_entry(entry)
    return Group(*parts)


def _version_entry(entry: dict[str, Any]) -> list[RenderableType]:
    head = Text(f"version {entry.get('version')}", style="bold yellow")
    head.append(f"  {short_hash(entry.get('prompt_hash'))}", style="yellow")
    lines: list[RenderableType] = [head]
    for label, value in (
        ("Author:", entry.get("author") or "-"),
        ("Date:  ", out.when(entry.get("created_at") or entry.get("timestamp")).plain),
        ("Source:", _source(entry)),
    ):
        lines.append(Text(f"{label} {value}"))
    if entry.get("failure_mode"):
        lines.append(Text(f"Failure mode: {entry['failure_mode']}"))
    for item in entry.get("evidence") or []:
        note = f" ({item['note']})" if item.get("note") else ""
        lines.append(Text(f"Evidence: {item.get('kind')} {item.get('ref')}{note}"))
    rationale = Padding(Text(str(entry.get("rationale") or "")), (0, 0, 0, 4), expand=False)
    return [*lines, Text(""), rationale, Text("")]


# -- deployments and unregistered versions --------------------------------------------------
def deployments_table(items: list[dict[str, Any]], *, with_prompt: bool = True) -> Table:
    """One row per label move; the reason takes what width is left."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    names = ["time", "prompt", "label", "action", "from", "to", "actor"]
    for name in names if with_prompt else [n for n in names if n != "prompt"]:
        table.add_column(name, no_wrap=True)
    table.add_column("reason", ratio=1)
    for item in items:
        cells = [
            out.when(item.get("timestamp"), seconds=False),
            out.text(item.get("prompt_name")),
            out.text(item.get("label")),
            out.text(item.get("action")),
            out.text(item.get("from_version")),
            out.text(item.get("to_version")),
            out.text(item.get("actor")),
            out.text(item.get("reason")),
        ]
        table.add_row(*(cells if with_prompt else [cells[0], *cells[2:]]))
    return table


def unregistered_table(items: list[dict[str, Any]]) -> Table:
    table = Table()
    for name in ("prompt", "version", "hash", "interactions", "first seen", "last seen"):
        table.add_column(name, justify="right" if name == "interactions" else "left")
    for item in items:
        table.add_row(
            out.text(item.get("prompt_name")),
            out.text(item.get("prompt_version")),
            Text(short_hash(item["prompt_hash"])) if item.get("prompt_hash") else out.text(None),
            out.number(item.get("interactions")),
            out.when(item.get("first_seen")),
            out.when(item.get("last_seen")),
        )
    return table


# -- sync -----------------------------------------------------------------------------------
def sync_table(items: list[dict[str, Any]]) -> Table:
    """Per file: versions this sync created, versions already there, the working copy's."""
    table = Table()
    for name in ("file", "prompt", "created", "existing", "working copy"):
        table.add_column(name, justify="right" if name == "existing" else "left")
    by_file: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in items:
        by_file.setdefault((item["path"], item["name"]), []).append(item)
    for (path, name), results in by_file.items():
        created = list(dict.fromkeys(item["version"] for item in results if item["created"]))
        existing = {item["version"] for item in results if not item["created"]} - set(created)
        table.add_row(
            Text(path),
            Text(name),
            out.text(", ".join(created) or None),
            out.number(len(existing)),
            Text(str(results[-1]["version"])),
        )
    return table
