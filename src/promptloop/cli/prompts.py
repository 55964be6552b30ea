"""``promptloop prompts``: the versioned prompt registry from a terminal.

Writes (``push``, ``promote``, ``rollback``, ``sync``) open a local store writable, or go
to the collector; reads are like every other read. Both print the collector's JSON shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from promptloop.cli import _output as out
from promptloop.cli import _prompt_views as views
from promptloop.cli._backend import Backend, open_backend, target_of
from promptloop.cli._errors import CliError, as_cli_error, usage_error
from promptloop.cli._options import (
    BUMPS,
    EVIDENCE_KINDS,
    JsonFlag,
    check_bump,
    check_label_name,
    check_prompt_name,
    check_version,
    default_user,
    parse_evidence,
    parse_settings,
    parse_time,
    parse_version,
    window_start,
)
from promptloop.core.prompts import PromptVersion
from promptloop.exceptions import PromptloopError
from promptloop.prompts.files import (
    PromptFile,
    Register,
    SyncResult,
    parse_prompt_file,
    sync_directory,
)

app = typer.Typer(
    help="The prompt registry: versions with their reasons, labels, deployments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

NameArg = Annotated[str, typer.Argument(help="The prompt's name.", show_default=False)]
LabelOpt = Annotated[str, typer.Option("--label", help="The label to move.")]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", help="Who deploys (recorded) [default: $USER].")
]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Why (recorded with the deployment).")
]
RationaleOpt = Annotated[
    str | None,
    typer.Option(
        "--rationale",
        help="What failure mode the new version addresses and what evidence motivated it; "
        "required for every version after the first.",
    ),
]

# Which option carried a value the registry refused, by the start of its message.
_REFUSED = (
    ("rationale", "--rationale"),
    ("template", "FILE"),
    ("version", "--version"),
    ("prompt name", "--name"),
    ("label", "--label"),
    ("evidence", "--evidence"),
)


def _option_in(message: str, default: str) -> str:
    return next((option for start, option in _REFUSED if message.startswith(start)), default)


@contextmanager
def _named_input(default: str) -> Iterator[None]:
    """Name the option when the registry or collector refused input without naming one."""
    try:
        yield
    except CliError as exc:
        if not exc.unattributed:
            raise
        raise usage_error(_option_in(exc.message, default), exc.message) from None


# -- push -----------------------------------------------------------------------------------
@app.command("push")
def push(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="A prompt file: plain text, text under YAML front matter, or YAML with a "
            "'template' key.",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="The prompt's name [default: the file's front matter 'name', else the file "
            "name without its suffix].",
        ),
    ] = None,
    rationale: RationaleOpt = None,
    failure_mode: Annotated[
        str | None, typer.Option("--failure-mode", help="The failure this version addresses.")
    ] = None,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            "--evidence",
            help="KIND:REF of what motivated the change; repeat for several. KIND: "
            + ", ".join(EVIDENCE_KINDS),
        ),
    ] = None,
    author: Annotated[
        str | None, typer.Option("--author", help="Who wrote it [default: front matter, $USER].")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="An explicit X.Y.Z, higher than every existing one."),
    ] = None,
    bump: Annotated[
        str | None,
        typer.Option("--bump", help="Which part of the latest version to bump: " + "|".join(BUMPS)),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            help="KEY=VALUE output-shaping setting (model, temperature, ...), over the file's; "
            "VALUE is read as YAML; repeat for several.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a prompt file as a version: identical content returns the existing one."""
    parsed = _read_prompt_file(file)
    if version is not None and bump is not None:
        raise usage_error("--version", "give --version or --bump, not both")
    request = {
        "name": check_prompt_name("--name", name or parsed.name),
        "template": parsed.template,
        "settings": {**parsed.settings, **parse_settings(setting)},
        "rationale": rationale or parsed.rationale,
        "failure_mode": failure_mode or parsed.failure_mode,
        "evidence": [*parsed.evidence, *parse_evidence(evidence)],
        "author": author or parsed.author or default_user(),
        "version": _version_of(version, bump, parsed),
        "bump": check_bump(bump) or "minor",
        "source": "cli",
    }
    with open_backend(target_of(ctx), write=True) as backend, _named_input("FILE"):
        found = backend.register_prompt(request)
    if as_json:
        out.print_json(found)
        return
    out.console().print(views.registered(found), soft_wrap=True)


def _version_of(version: str | None, bump: str | None, parsed: PromptFile) -> str | None:
    """``--version``, else (without ``--bump``) the file's ``version``, else none: bump."""
    if version is not None:
        return check_version("--version", version)
    if bump is None and parsed.version is not None:
        try:
            return check_version("--version", parsed.version)
        except CliError as exc:
            raise usage_error("FILE", f"front matter {exc.message.removeprefix('--')}") from None
    return None


def _read_prompt_file(path: Path) -> PromptFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise usage_error("FILE", f"cannot read {path}: {reason}") from None
    try:
        return parse_prompt_file(path.stem, path, text)
    except (ValueError, yaml.YAMLError) as exc:
        raise usage_error("FILE", " ".join(str(exc).split())) from None


# -- list, show, diff, log ------------------------------------------------------------------
@app.command("list")
def list_prompts(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every prompt with its number of versions, latest version and labels."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.prompts()
        where = backend.where
    if as_json:
        out.print_json(found)
        return
    title = f"{len(found['items'])} prompts ({where})"
    out.console().print(out.titled(title, views.prompts_table(found["items"])))


@app.command("show")
def show(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[str | None, typer.Option("--version", help="This version.")] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="The version this label points at.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """One version (default: the latest): template, settings, rationale, evidence, labels."""
    if version is not None and label is not None:
        raise usage_error("--version", "give --version or --label, not both")
    version = check_version("--version", version)
    label = None if label is None else check_label_name("--label", label)
    with open_backend(target_of(ctx)) as backend:
        found = backend.resolve_prompt(name, label=label, version=version)
        labels = backend.prompt(name)["labels"]
    pointing = sorted(tag for tag, at in labels.items() if at == found["version"])
    shown = {**found, "labels": pointing}
    if as_json:
        out.print_json(shown)
        return
    out.console().print(views.version_details(shown))


@app.command("diff")
def diff(
    ctx: typer.Context,
    name: NameArg,
    v1: Annotated[str, typer.Argument(help="The version to compare from.", show_default=False)],
    v2: Annotated[str, typer.Argument(help="The version to compare to.", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """A unified diff of the template and the settings of two versions."""
    old, new = parse_version("V1", v1), parse_version("V2", v2)
    with open_backend(target_of(ctx)) as backend:
        found = backend.prompt_diff(name, old, new)
    if as_json:
        out.print_json(found)
        return
    out.console().print(views.diff_text(found["diff"]), end="", soft_wrap=True)


@app.command("log")
def log(ctx: typer.Context, name: NameArg, as_json: JsonFlag = False) -> None:
    """The changelog, newest first like ``git log``: versions with why they exist, and
    every deployment (label moves, rollbacks) between them."""
    with open_backend(target_of(ctx)) as backend:
        found = backend.prompt_log(name)
    if as_json:
        out.print_json(found)
        return
    out.console().print(views.changelog(found["entries"]))


# -- labels and deployments -----------------------------------------------------------------
@app.command("promote")
def promote(
    ctx: typer.Context,
    name: NameArg,
    version: Annotated[str, typer.Argument(help="The version to point at.", show_default=False)],
    label: LabelOpt = "production",
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Point a label at a version: a deployment, recorded with time, actor and reason."""
    checked = parse_version("VERSION", version)
    label = check_label_name("--label", label)
    with open_backend(target_of(ctx), write=True) as backend, _named_input("VERSION"):
        found = backend.promote(
            name, checked, label=label, actor=actor or default_user(), reason=reason
        )
    _print_deployment(name, found, as_json)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: NameArg,
    label: LabelOpt = "production",
    to: Annotated[
        str | None,
        typer.Option("--to", help="The version to return to [default: the previous release]."),
    ] = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Move a label back (to the release before the current one, or --to): a deployment."""
    label = check_label_name("--label", label)
    to_version = check_version("--to", to)
    with open_backend(target_of(ctx), write=True) as backend, _named_input("--to"):
        found = backend.rollback(
            name, label=label, to_version=to_version, actor=actor or default_user(), reason=reason
        )
    _print_deployment(name, found, as_json)


def _print_deployment(name: str, found: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(found)
        return
    line = Text(f"{name}: ")
    line.append_text(views.deployment_line(found))
    out.console().print(line, soft_wrap=True)


@app.command("deployments")
def deployments(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="Only this prompt [default: every prompt].")
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="Only this label.")] = None,
    since: Annotated[
        str | None, typer.Option(help="From this ISO-8601 date/time on (UTC unless an offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this ISO-8601 date/time (exclusive).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Deployment events (label moves and rollbacks), oldest first: what charts mark."""
    start, end = parse_time("--since", since), parse_time("--until", until)
    with open_backend(target_of(ctx)) as backend:
        found = backend.deployments(name, label=label, since=start, until=end)
    if as_json:
        out.print_json(found)
        return
    title = f"{len(found['items'])} deployments" + (f" of {name}" if name else "")
    table = views.deployments_table(found["items"], with_prompt=name is None)
    out.console().print(out.titled(title, table))


@app.command("unregistered")
def unregistered(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only interactions from this ISO-8601 date/time on.")
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Only the last N days (not with --since).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Prompt versions seen in interactions that the registry does not know."""
    start = window_start(since, days)
    with open_backend(target_of(ctx)) as backend:
        found = backend.unregistered(since=start)
    if as_json:
        out.print_json(found)
        return
    title = f"{len(found['items'])} unregistered prompt versions seen in interactions"
    note = "register them with `promptloop prompts push` or `promptloop prompts sync`"
    out.console().print(out.titled(title, views.unregistered_table(found["items"]), note))


# -- sync -----------------------------------------------------------------------------------
@app.command("sync")
def sync(
    ctx: typer.Context,
    dir: Annotated[  # named DIR in help, docs and errors
        Path,
        typer.Argument(
            help="A folder of prompt files (.txt, .md, .prompt, .yaml, .yml).", show_default=False
        ),
    ],
    rationale: Annotated[
        str | None,
        typer.Option(
            "--rationale",
            help="Rationale for uncommitted changes (commits use their message).",
        ),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help="Author of uncommitted changes [default: $USER]."),
    ] = None,
    no_git: Annotated[
        bool,
        typer.Option("--no-git", help="Register only the working copy, not the git history."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Register every prompt file under DIR; in git, every commit that changed one."""
    directory = dir
    if not directory.is_dir():
        raise usage_error("DIR", f"{directory} is not a directory")
    with (
        open_backend(target_of(ctx), write=True, spinner=False) as backend,
        _sync_progress() as advance,
    ):
        results = _sync(
            backend, directory, rationale, author or default_user(), not no_git, advance
        )
    items = [asdict(result) for result in results]
    created = sum(1 for item in items if item["created"])
    if as_json:
        report = {"directory": str(directory), "created": created, "items": items}
        out.print_json({**report, "existing": len(items) - created})
        return
    title = f"synced {directory}: {created} new versions"
    out.console().print(out.titled(title, views.sync_table(items)))


def _sync(
    backend: Backend,
    directory: Path,
    rationale: str | None,
    author: str | None,
    use_git: bool,
    advance: Callable[[str], None],
) -> list[SyncResult]:
    register = _registrar(backend, advance)
    try:
        return sync_directory(
            register, directory, rationale=rationale, author=author, use_git=use_git
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise usage_error("DIR", " ".join(str(exc).split())) from None


def _registrar(backend: Backend, advance: Callable[[str], None]) -> Register:
    """``sync_directory``'s register callable, over either backend."""

    def register(
        name: str, template: str, settings: dict[str, Any], **fields: Any
    ) -> tuple[PromptVersion, bool]:
        sha = fields.get("commit_sha")
        where = f"{name} ({'commit ' + str(sha)[:12] if sha else 'working copy'})"
        advance(where)
        request = {"name": name, "template": template, "settings": settings, **fields}
        try:
            found = backend.register_prompt(request)
        except (CliError, PromptloopError) as exc:
            raise _in_context(exc, where) from None
        return PromptVersion.model_validate(found), bool(found["created"])

    return register


def _in_context(exc: CliError | PromptloopError, where: str) -> CliError:
    """The error of one revision, saying which file and commit it was."""
    error = exc if isinstance(exc, CliError) else as_cli_error(exc)
    if error.unattributed:
        option = "--rationale" if error.message.startswith("rationale") else "DIR"
        return usage_error(option, f"{where}: {error.message}")
    if error.option:
        rest = error.message.removeprefix(f"{error.option}: ")
        return usage_error(error.option, f"{where}: {rest}")
    return CliError(f"{where}: {error.message}", exit_code=error.exit_code)


@contextmanager
def _sync_progress() -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the revision being registered, and a count."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} revisions"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out.err_console(), transient=True) as progress:
        task = progress.add_task("reading prompt files", total=None)

        def advance(where: str) -> None:
            progress.update(task, description=f"registering {where}", advance=1)

        yield advance
