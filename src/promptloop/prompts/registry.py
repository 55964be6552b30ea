"""The prompt registry over a :class:`~promptloop.store.base.Store`.

"Treat every change to a system prompt as a deployment event": every version carries its
rationale, and every label move is a recorded deployment with time, actor and reason.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from promptloop.core.prompts import (
    Bump,
    Deployment,
    Evidence,
    PromptVersion,
    SemVer,
    check_label,
    check_name,
    content_hash,
    variables_of,
)
from promptloop.core.records import as_utc, utc_now
from promptloop.exceptions import ConflictError, ConstraintViolation, NotFoundError
from promptloop.store.base import Store

FIRST_VERSION = SemVer(1, 0, 0)
INITIAL_RATIONALE = "Initial version."


@dataclass(frozen=True)
class Registered:
    version: PromptVersion
    created: bool


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _version_from_row(row: Mapping[str, Any]) -> PromptVersion:
    return PromptVersion.model_validate(
        {
            **row,
            "settings": _loaded(row["settings"]) or {},
            "variables": _loaded(row["variables"]) or [],
            "evidence": _loaded(row["evidence"]) or [],
            "created_at": as_utc(row["created_at"]),
        }
    )


def _deployment_from_row(row: Mapping[str, Any]) -> Deployment:
    return Deployment.model_validate({**row, "timestamp": as_utc(row["timestamp"])})


class PromptRegistry:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self._clock = clock

    # -- versions -----------------------------------------------------------------------
    def register(
        self,
        name: str,
        template: str,
        settings: Mapping[str, Any] | None = None,
        *,
        rationale: str | None = None,
        failure_mode: str | None = None,
        evidence: Sequence[Evidence | Mapping[str, Any]] = (),
        author: str | None = None,
        version: str | None = None,
        bump: Bump = "minor",
        source: str = "api",
        commit_sha: str | None = None,
        created_at: datetime | None = None,
    ) -> Registered:
        """Register content under ``name``; identical content returns the existing version.

        A new version needs a rationale (what failure it addresses, and why), except the very
        first one of a name. Its semantic version is ``version`` when given (it must be
        higher than every existing one), else the latest bumped by ``bump``.
        """
        check_name(name)
        if not template.strip():
            raise ValueError("template must not be empty")
        settings = dict(settings or {})
        digest = content_hash(template, settings)
        existing = self.by_hash(name, digest)
        if existing is not None:
            return Registered(existing, created=False)
        versions = self.versions(name)
        number = self._next_number(versions, version, bump)
        if not (rationale and rationale.strip()):
            if versions:
                raise ValueError(
                    "rationale is required: say what failure mode this version addresses "
                    "and what evidence motivated it"
                )
            rationale = INITIAL_RATIONALE
        record = PromptVersion(
            prompt_name=name,
            version=str(number),
            prompt_hash=digest,
            template=template,
            settings=settings,
            variables=variables_of(template),
            rationale=rationale.strip(),
            failure_mode=failure_mode,
            evidence=[Evidence.model_validate(item) for item in evidence],
            author=author,
            source=source,
            commit_sha=commit_sha,
            created_at=as_utc(created_at or self._clock()),
        )
        try:
            self._insert(record)
        except ConstraintViolation:
            # Someone registered concurrently: identical content wins, a taken number loses.
            raced = self.by_hash(name, digest)
            if raced is not None:
                return Registered(raced, created=False)
            raise ConflictError(f"{name} {number} was registered concurrently; retry") from None
        return Registered(record, created=True)

    @staticmethod
    def _next_number(versions: list[PromptVersion], wanted: str | None, bump: Bump) -> SemVer:
        latest = max((SemVer.parse(v.version) for v in versions), default=None)
        if wanted is None:
            return latest.bump(bump) if latest else FIRST_VERSION
        number = SemVer.parse(wanted)
        if latest is not None and number <= latest:
            raise ConflictError(f"version {number} is not higher than the latest, {latest}")
        return number

    def _insert(self, record: PromptVersion) -> None:
        row = record.model_dump(mode="json")
        for key in ("settings", "variables", "evidence"):
            row[key] = _json(row[key])
        row["created_at"] = record.created_at
        columns = ", ".join(row)
        values = ", ".join(f":{key}" for key in row)
        self.store.execute(f"INSERT INTO prompt_versions ({columns}) VALUES ({values})", row)

    def get(self, name: str, version: str) -> PromptVersion:
        rows = self.store.fetch_all(
            "SELECT * FROM prompt_versions WHERE prompt_name = :name AND version = :version",
            {"name": name, "version": str(SemVer.parse(version))},
        )
        if not rows:
            raise NotFoundError(f"prompt {name!r} has no version {version}")
        return _version_from_row(rows[0])

    def by_hash(self, name: str | None, digest: str) -> PromptVersion | None:
        condition = "prompt_hash = :hash" + (" AND prompt_name = :name" if name else "")
        rows = self.store.fetch_all(
            f"SELECT * FROM prompt_versions WHERE {condition}", {"hash": digest, "name": name}
        )
        return _version_from_row(rows[0]) if rows else None

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version of a prompt, oldest first."""
        rows = self.store.fetch_all(
            "SELECT * FROM prompt_versions WHERE prompt_name = :name", {"name": name}
        )
        return sorted(
            (_version_from_row(row) for row in rows), key=lambda v: SemVer.parse(v.version)
        )

    def names(self) -> list[dict[str, Any]]:
        """Each prompt with its latest version, version count and labels."""
        rows = self.store.fetch_all("SELECT prompt_name, version, created_at FROM prompt_versions")
        labels = self.store.fetch_all("SELECT prompt_name, label, version FROM prompt_labels")
        summary: dict[str, dict[str, Any]] = {}
        for row in rows:
            entry = summary.setdefault(
                row["prompt_name"],
                {
                    "prompt_name": row["prompt_name"],
                    "versions": 0,
                    "latest_version": None,
                    "updated_at": None,
                    "labels": {},
                },
            )
            entry["versions"] += 1
            if entry["latest_version"] is None or SemVer.parse(row["version"]) > SemVer.parse(
                entry["latest_version"]
            ):
                entry["latest_version"] = row["version"]
            if entry["updated_at"] is None or row["created_at"] > entry["updated_at"]:
                entry["updated_at"] = row["created_at"]
        for row in labels:
            if row["prompt_name"] in summary:
                summary[row["prompt_name"]]["labels"][row["label"]] = row["version"]
        return [summary[name] for name in sorted(summary)]

    # -- labels and deployments ---------------------------------------------------------
    def labels(self, name: str) -> dict[str, str]:
        rows = self.store.fetch_all(
            "SELECT label, version FROM prompt_labels WHERE prompt_name = :name", {"name": name}
        )
        return {row["label"]: row["version"] for row in rows}

    def resolve(
        self, name: str, *, label: str | None = None, version: str | None = None
    ) -> PromptVersion:
        """The version a label points at, a given version, or (neither) the latest."""
        if version is not None:
            return self.get(name, version)
        if label is not None:
            pointed = self.labels(name).get(label)
            if pointed is None:
                raise NotFoundError(f"prompt {name!r} has no label {label!r}")
            return self.get(name, pointed)
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"no prompt named {name!r}")
        return versions[-1]

    def promote(
        self,
        name: str,
        version: str,
        *,
        label: str = "production",
        actor: str | None = None,
        reason: str | None = None,
    ) -> Deployment:
        """Point ``label`` at ``version``: a deployment event."""
        target = self.get(name, version)
        return self._move_label(name, check_label(label), target.version, "promote", actor, reason)

    def rollback(
        self,
        name: str,
        *,
        label: str = "production",
        to_version: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
    ) -> Deployment:
        """Move ``label`` back: to ``to_version``, or to where it pointed before its last move."""
        current = self.labels(name).get(label)
        if current is None:
            raise NotFoundError(f"prompt {name!r} has no label {label!r} to roll back")
        if to_version is None:
            stack = self._release_stack(name, label)
            if len(stack) < 2:
                raise ConflictError(f"{name} {label} has no earlier version to roll back to")
            to_version = stack[-2]
        target = self.get(name, to_version)
        return self._move_label(name, label, target.version, "rollback", actor, reason)

    def _release_stack(self, name: str, label: str) -> list[str]:
        """The label's releases still in force: a promotion pushes, a rollback pops back."""
        stack: list[str] = []
        for deployment in self.deployments(name, label=label):
            if deployment.action == "rollback" and deployment.to_version in stack:
                del stack[stack.index(deployment.to_version) + 1 :]
            else:
                stack.append(deployment.to_version)
        return stack

    def _move_label(
        self,
        name: str,
        label: str,
        version: str,
        action: Literal["promote", "rollback"],
        actor: str | None,
        reason: str | None,
    ) -> Deployment:
        now = as_utc(self._clock())
        deployment = Deployment(
            deployment_id=str(uuid.uuid4()),
            prompt_name=name,
            label=label,
            from_version=self.labels(name).get(label),
            to_version=version,
            action=action,
            actor=actor,
            reason=reason,
            timestamp=now,
        )
        self.store.transaction(
            [
                (
                    "INSERT INTO prompt_labels"
                    " (prompt_name, label, version, updated_at, updated_by)"
                    " VALUES (:name, :label, :version, :now, :actor)"
                    " ON CONFLICT (prompt_name, label) DO UPDATE SET version = excluded.version,"
                    " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    {"name": name, "label": label, "version": version, "now": now, "actor": actor},
                ),
                (
                    "INSERT INTO prompt_deployments (deployment_id, prompt_name, label,"
                    " from_version, to_version, action, actor, reason, timestamp) VALUES"
                    " (:deployment_id, :prompt_name, :label, :from_version, :to_version,"
                    " :action, :actor, :reason, :timestamp)",
                    deployment.model_dump(),
                ),
            ]
        )
        return deployment

    def deployments(
        self,
        name: str | None = None,
        *,
        label: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Deployment]:
        """Label moves, oldest first: what rate charts mark and comparisons are bounded by."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for column, value in (("prompt_name", name), ("label", label)):
            if value is not None:
                clauses.append(f"{column} = :{column}")
                params[column] = value
        if since is not None:
            clauses.append("timestamp >= :since")
            params["since"] = as_utc(since)
        if until is not None:
            clauses.append("timestamp < :until")
            params["until"] = as_utc(until)
        where = " AND ".join(clauses) or "TRUE"
        rows = self.store.fetch_all(
            f"SELECT * FROM prompt_deployments WHERE {where} ORDER BY timestamp, deployment_id",
            params,
        )
        return [_deployment_from_row(row) for row in rows]

    # -- history and diff ---------------------------------------------------------------
    def history(self, name: str) -> list[dict[str, Any]]:
        """The changelog: versions with their rationale and deployments, newest first."""
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"no prompt named {name!r}")
        entries: list[dict[str, Any]] = [
            {"kind": "version", "timestamp": v.created_at, **v.model_dump(mode="json")}
            for v in versions
        ]
        entries += [
            {"kind": "deployment", **d.model_dump(mode="json"), "timestamp": d.timestamp}
            for d in self.deployments(name)
        ]
        # Newest first; at equal times a deployment follows its version, and versions
        # follow their semantic order (git commits may share a second).
        entries.sort(key=_history_order, reverse=True)
        for entry in entries:
            entry["timestamp"] = entry["timestamp"].isoformat()
        return entries

    def diff(self, name: str, old: str, new: str) -> str:
        """A unified diff of template and settings between two versions."""
        before, after = self.get(name, old), self.get(name, new)
        return version_diff(before, after)

    # -- interactions whose prompt the registry does not know ---------------------------
    def unregistered_versions(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Prompt versions seen in interactions but absent from the registry."""
        params: dict[str, Any] = {}
        window = ""
        if since is not None:
            window = "AND l.timestamp >= :since"
            params["since"] = as_utc(since)
        return self.store.fetch_all(
            f"""
            SELECT l.prompt_name, l.prompt_version, l.prompt_hash, count(*) AS interactions,
                   min(l.timestamp) AS first_seen, max(l.timestamp) AS last_seen
            FROM llm_interaction_logs l
            WHERE (l.prompt_hash IS NOT NULL OR l.prompt_version IS NOT NULL) {window}
              AND NOT EXISTS (
                SELECT 1 FROM prompt_versions p
                WHERE (l.prompt_hash IS NOT NULL AND p.prompt_hash = l.prompt_hash)
                   OR (l.prompt_hash IS NULL AND p.prompt_name = l.prompt_name
                       AND p.version = l.prompt_version))
            GROUP BY l.prompt_name, l.prompt_version, l.prompt_hash
            ORDER BY interactions DESC, l.prompt_name, l.prompt_version, l.prompt_hash
            """,
            params,
        )


def _history_order(entry: dict[str, Any]) -> tuple[Any, ...]:
    number = entry.get("version") or entry.get("to_version") or "0.0.0"
    return (entry["timestamp"], entry["kind"] == "deployment", SemVer.parse(number))


def version_diff(before: PromptVersion, after: PromptVersion) -> str:
    label_a = f"{before.prompt_name}@{before.version}"
    label_b = f"{after.prompt_name}@{after.version}"
    template = difflib.unified_diff(
        before.template.splitlines(keepends=True),
        after.template.splitlines(keepends=True),
        fromfile=f"{label_a}/template",
        tofile=f"{label_b}/template",
    )
    settings = difflib.unified_diff(
        (json.dumps(before.settings, indent=2, sort_keys=True) + "\n").splitlines(keepends=True),
        (json.dumps(after.settings, indent=2, sort_keys=True) + "\n").splitlines(keepends=True),
        fromfile=f"{label_a}/settings",
        tofile=f"{label_b}/settings",
    )
    text = "".join(_ensure_newlines(template)) + "".join(_ensure_newlines(settings))
    return text or f"{label_a} and {label_b} have identical content\n"


def _ensure_newlines(lines: Any) -> list[str]:
    return [
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    ]
