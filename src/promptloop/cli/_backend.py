"""Where the CLI reads from: the store directly, or the collector's HTTP API.

Both implementations of :class:`Backend` return the JSON shapes of the collector's
``/v1`` endpoints, so a command renders the same output whichever one answered.

- ``--url`` (or ``PROMPTLOOP_URL``) given: :class:`RemoteBackend`.
- otherwise :class:`LocalBackend` on ``--store``, opened read-only for reads and writable
  (and migrated) for writes (``prompts push``, ``signals run``, ...). When the DuckDB file
  is held by a running collector, the CLI asks the collector at :data:`FALLBACK_URL`
  instead, if its ``/healthz`` answers; if not, it stops with exit code 2 and asks for
  ``--url``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx
import typer
from rich.text import Text

from promptloop.analytics import queries
from promptloop.analytics.compare import DEFAULT_RATES, compare
from promptloop.analytics.metrics import ALL_RATES, Slicing, rate_metrics
from promptloop.analytics.queries import InteractionFilter
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
from promptloop.cli._output import err_console, jsonable_object, redact_url
from promptloop.exceptions import ClientError, StoreError, StoreLockedError
from promptloop.prompts import PromptRegistry
from promptloop.signals.jobs import run_signals
from promptloop.store import default_store_url, open_store
from promptloop.store.base import Store

FALLBACK_URL = "http://127.0.0.1:8321"
TIMEOUT_SECONDS = 30.0
# An inference run over a large store can take minutes; the collector answers when done.
SIGNALS_TIMEOUT_SECONDS = 900.0

# Query parameters and body fields of the API whose option has another name.
_PARAM_OPTIONS = {"session_id": "--session", "to_version": "--to", "template": "FILE"}


@dataclass(frozen=True)
class Target:
    """The global options: which store, or which collector, and the key to show it."""

    store_url: str | None = None
    url: str | None = None
    api_key: str | None = None

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or default_store_url()


def target_of(ctx: typer.Context) -> Target:
    """The global options, from the root command's context."""
    found = ctx.find_root().obj
    return found if isinstance(found, Target) else Target()


@dataclass(frozen=True)
class MetricsRequest:
    by: tuple[str, ...] = ("feature", "prompt_name", "prompt_version")
    variant_key: str | None = None
    bucket: Literal["hour", "day", "week"] | None = None
    days: int | None = None


@dataclass(frozen=True)
class CompareRequest:
    """The arguments of :func:`promptloop.analytics.compare.compare`, less the store."""

    feature: str
    versions: list[str] | None = None
    variant_key: str | None = None
    baseline: str | None = None
    rates: tuple[str, ...] = DEFAULT_RATES
    since: datetime | None = None
    until: datetime | None = None
    bound_by_deployments: bool = True


class Backend(Protocol):
    """The collector's API as the CLI uses it: reads, registry writes, the signal job."""

    where: str

    def interactions(
        self, filters: InteractionFilter, *, limit: int, cursor: str | None
    ) -> dict[str, Any]: ...

    def interaction(self, interaction_id: str) -> dict[str, Any]: ...

    def feedback(self, interaction_id: str) -> dict[str, Any]: ...

    def negative_inputs(
        self, *, days: int, limit: int, feature: str | None, prompt_version: str | None
    ) -> dict[str, Any]: ...

    def regenerated_inputs(
        self, *, prompt_version: str, days: int, min_count: int, limit: int
    ) -> dict[str, Any]: ...

    def version_summary(
        self, filters: InteractionFilter, *, days: int | None
    ) -> dict[str, Any]: ...

    def edit_summary(self, filters: InteractionFilter, *, days: int | None) -> dict[str, Any]: ...

    def metrics(self, filters: InteractionFilter, request: MetricsRequest) -> dict[str, Any]: ...

    def compare(self, request: CompareRequest) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...

    # -- the prompt registry -------------------------------------------------------------
    def register_prompt(self, request: Mapping[str, Any]) -> dict[str, Any]: ...

    def prompts(self) -> dict[str, Any]: ...

    def prompt(self, name: str) -> dict[str, Any]: ...

    def resolve_prompt(
        self, name: str, *, label: str | None, version: str | None
    ) -> dict[str, Any]: ...

    def prompt_diff(self, name: str, old: str, new: str) -> dict[str, Any]: ...

    def prompt_log(self, name: str) -> dict[str, Any]: ...

    def promote(
        self, name: str, version: str, *, label: str, actor: str | None, reason: str | None
    ) -> dict[str, Any]: ...

    def rollback(
        self,
        name: str,
        *,
        label: str,
        to_version: str | None,
        actor: str | None,
        reason: str | None,
    ) -> dict[str, Any]: ...

    def deployments(
        self,
        name: str | None,
        *,
        label: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> dict[str, Any]: ...

    def unregistered(self, *, since: datetime | None) -> dict[str, Any]: ...

    # -- the signal inference job --------------------------------------------------------
    def run_signals(self, *, full: bool) -> dict[str, Any]: ...

    def signals_status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@contextmanager
def _registry_input() -> Iterator[None]:
    """The registry's checks (a missing rationale, a bad name) are bad input: exit 2."""
    try:
        yield
    except ValueError as exc:
        raise CliError(str(exc), exit_code=EXIT_USAGE) from None


class LocalBackend:
    """Runs :mod:`promptloop.analytics.queries` on an open store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.where = f"store {redact_url(store.url)}"

    def interactions(
        self, filters: InteractionFilter, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        try:
            page = queries.list_interactions(self.store, filters, limit=limit, cursor=cursor)
        except ValueError as exc:
            raise usage_error("--cursor" if cursor else "--limit", str(exc)) from None
        return jsonable_object({"items": page.rows, "next_cursor": page.next_cursor})

    def interaction(self, interaction_id: str) -> dict[str, Any]:
        found = queries.get_interaction(self.store, interaction_id)
        if found is None:
            raise CliError(f"no interaction {interaction_id}")
        return jsonable_object(found)

    def feedback(self, interaction_id: str) -> dict[str, Any]:
        return jsonable_object({"items": queries.feedback_for(self.store, interaction_id)})

    def negative_inputs(
        self, *, days: int, limit: int, feature: str | None, prompt_version: str | None
    ) -> dict[str, Any]:
        rows = queries.top_negative_inputs(
            self.store, days=days, limit=limit, feature=feature, prompt_version=prompt_version
        )
        return jsonable_object({"days": days, "items": rows})

    def regenerated_inputs(
        self, *, prompt_version: str, days: int, min_count: int, limit: int
    ) -> dict[str, Any]:
        rows = queries.regenerated_inputs(
            self.store, prompt_version=prompt_version, days=days, min_count=min_count, limit=limit
        )
        return jsonable_object({"prompt_version": prompt_version, "days": days, "items": rows})

    def version_summary(self, filters: InteractionFilter, *, days: int | None) -> dict[str, Any]:
        rows = queries.version_summary(self.store, queries.with_window(filters, days))
        return jsonable_object({"items": rows})

    def edit_summary(self, filters: InteractionFilter, *, days: int | None) -> dict[str, Any]:
        rows = queries.edit_summary(self.store, queries.with_window(filters, days))
        return jsonable_object({"items": rows})

    def metrics(self, filters: InteractionFilter, request: MetricsRequest) -> dict[str, Any]:
        slicing = Slicing(by=request.by, variant_key=request.variant_key, bucket=request.bucket)
        rows = rate_metrics(self.store, queries.with_window(filters, request.days), slicing)
        return jsonable_object({"items": rows, "rates": list(ALL_RATES)})

    def compare(self, request: CompareRequest) -> dict[str, Any]:
        return jsonable_object(compare(self.store, **asdict(request)))

    def stats(self) -> dict[str, Any]:
        counts = self.store.fetch_all(
            "SELECT (SELECT count(*) FROM llm_interaction_logs) AS interactions,"
            " (SELECT count(*) FROM feedback_events) AS feedback_events"
        )
        info = {"dialect": self.store.dialect, "schema_version": self.store.schema_version()}
        return jsonable_object({"store": {**info, **counts[0]}})

    # -- the prompt registry: the shapes of /v1/prompts/... ------------------------------
    @property
    def registry(self) -> PromptRegistry:
        return PromptRegistry(self.store)

    def register_prompt(self, request: Mapping[str, Any]) -> dict[str, Any]:
        with _registry_input():
            found = self.registry.register(**request)
        return jsonable_object({"created": found.created, **found.version.model_dump(mode="json")})

    def prompts(self) -> dict[str, Any]:
        return jsonable_object({"items": self.registry.names()})

    def prompt(self, name: str) -> dict[str, Any]:
        versions = self.registry.versions(name)
        if not versions:
            raise CliError(f"no prompt named {name!r}")
        return jsonable_object(
            {
                "prompt_name": name,
                "labels": self.registry.labels(name),
                "versions": [version.model_dump(mode="json") for version in versions],
            }
        )

    def resolve_prompt(
        self, name: str, *, label: str | None, version: str | None
    ) -> dict[str, Any]:
        with _registry_input():
            found = self.registry.resolve(name, label=label, version=version)
        return jsonable_object(found.model_dump(mode="json"))

    def prompt_diff(self, name: str, old: str, new: str) -> dict[str, Any]:
        with _registry_input():
            text = self.registry.diff(name, old, new)
        return {"prompt_name": name, "from": old, "to": new, "diff": text}

    def prompt_log(self, name: str) -> dict[str, Any]:
        return jsonable_object({"prompt_name": name, "entries": self.registry.history(name)})

    def promote(
        self, name: str, version: str, *, label: str, actor: str | None, reason: str | None
    ) -> dict[str, Any]:
        with _registry_input():
            moved = self.registry.promote(name, version, label=label, actor=actor, reason=reason)
        return jsonable_object(moved.model_dump(mode="json"))

    def rollback(
        self,
        name: str,
        *,
        label: str,
        to_version: str | None,
        actor: str | None,
        reason: str | None,
    ) -> dict[str, Any]:
        with _registry_input():
            moved = self.registry.rollback(
                name, label=label, to_version=to_version, actor=actor, reason=reason
            )
        return jsonable_object(moved.model_dump(mode="json"))

    def deployments(
        self,
        name: str | None,
        *,
        label: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> dict[str, Any]:
        found = self.registry.deployments(name, label=label, since=since, until=until)
        return jsonable_object({"items": [item.model_dump(mode="json") for item in found]})

    def unregistered(self, *, since: datetime | None) -> dict[str, Any]:
        return jsonable_object({"items": self.registry.unregistered_versions(since)})

    # -- the signal inference job --------------------------------------------------------
    def run_signals(self, *, full: bool) -> dict[str, Any]:
        return jsonable_object(run_signals(self.store, full=full).as_dict())

    def signals_status(self) -> dict[str, Any]:
        raise usage_error(
            "--url",
            "`signals status` reports the collector's scheduled inference job: pass the "
            "collector's address (the store has no schedule of its own; `promptloop signals "
            "run` runs the job on it now)",
        )

    def close(self) -> None:
        self.store.close()


class RemoteBackend:
    """Calls the collector's ``/v1`` API with ``Authorization: Bearer KEY``."""

    def __init__(
        self, base_url: str, api_key: str | None = None, *, client: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.where = f"collector {redact_url(self.base_url)}"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.Client(base_url=self.base_url, timeout=TIMEOUT_SECONDS)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", path, params=params)

    def _post(
        self, path: str, body: Mapping[str, Any], *, timeout: float = TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        return self._request("POST", path, body=jsonable_object(body), timeout=timeout)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> dict[str, Any]:
        sent = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in (params or {}).items()
            if value is not None
        }
        try:
            response = self._client.request(
                method, path, params=sent, json=body, headers=self._headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the collector at {self.where}: {exc}") from None
        if response.is_error:
            raise self._error(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ClientError(
                f"the {self.where} did not answer {path} with a JSON object: "
                "is --url the base URL of a promptloop collector?"
            )
        return answer

    def _error(self, response: httpx.Response) -> Exception:
        body = _error_body(response)
        message = str(body.get("message") or response.reason_phrase)
        status = response.status_code
        if status == 422:
            return _invalid_request(body, message)
        if status in (401, 403):
            return ClientError(
                f"the {self.where} refused the request ({status}): {message}. "
                "Pass --api-key KEY or set PROMPTLOOP_API_KEY.",
                status,
            )
        return ClientError(f"the {self.where} answered {status}: {message}", status)

    def interactions(
        self, filters: InteractionFilter, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        params = {**_filter_params(filters), "limit": limit, "cursor": cursor}
        return self._get("/v1/interactions", params)

    def interaction(self, interaction_id: str) -> dict[str, Any]:
        return self._get(f"/v1/interactions/{_path_segment(interaction_id)}")

    def feedback(self, interaction_id: str) -> dict[str, Any]:
        return self._get("/v1/feedback", {"interaction_id": interaction_id})

    def negative_inputs(
        self, *, days: int, limit: int, feature: str | None, prompt_version: str | None
    ) -> dict[str, Any]:
        params = {"days": days, "limit": limit, "feature": feature}
        return self._get(
            "/v1/queries/negative-inputs", {**params, "prompt_version": prompt_version}
        )

    def regenerated_inputs(
        self, *, prompt_version: str, days: int, min_count: int, limit: int
    ) -> dict[str, Any]:
        params = {"prompt_version": prompt_version, "days": days, "min_count": min_count}
        return self._get("/v1/queries/regenerated-inputs", {**params, "limit": limit})

    def version_summary(self, filters: InteractionFilter, *, days: int | None) -> dict[str, Any]:
        return self._get("/v1/queries/version-summary", {**_filter_params(filters), "days": days})

    def edit_summary(self, filters: InteractionFilter, *, days: int | None) -> dict[str, Any]:
        return self._get("/v1/queries/edit-summary", {**_filter_params(filters), "days": days})

    def metrics(self, filters: InteractionFilter, request: MetricsRequest) -> dict[str, Any]:
        params = {
            **_filter_params(filters),
            "by": ",".join(request.by),
            "variant_key": request.variant_key,
            "bucket": request.bucket,
            "days": request.days,
        }
        return self._get("/v1/metrics", params)

    def compare(self, request: CompareRequest) -> dict[str, Any]:
        params = {**asdict(request)}
        params["versions"] = ",".join(request.versions) if request.versions else None
        params["rates"] = ",".join(request.rates)
        return self._get("/v1/compare", params)

    def stats(self) -> dict[str, Any]:
        return self._get("/v1/stats")

    # -- the prompt registry -------------------------------------------------------------
    def register_prompt(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return self._post("/v1/prompts", request)

    def prompts(self) -> dict[str, Any]:
        return self._get("/v1/prompts")

    def prompt(self, name: str) -> dict[str, Any]:
        return self._get(f"/v1/prompts/{_path_segment(name)}")

    def resolve_prompt(
        self, name: str, *, label: str | None, version: str | None
    ) -> dict[str, Any]:
        params = {"label": label, "version": version}
        return self._get(f"/v1/prompts/{_path_segment(name)}/resolve", params)

    def prompt_diff(self, name: str, old: str, new: str) -> dict[str, Any]:
        return self._get(f"/v1/prompts/{_path_segment(name)}/diff", {"from": old, "to": new})

    def prompt_log(self, name: str) -> dict[str, Any]:
        return self._get(f"/v1/prompts/{_path_segment(name)}/log")

    def promote(
        self, name: str, version: str, *, label: str, actor: str | None, reason: str | None
    ) -> dict[str, Any]:
        path = f"/v1/prompts/{_path_segment(name)}/labels/{_path_segment(label)}"
        return self._post(path, {"version": version, "actor": actor, "reason": reason})

    def rollback(
        self,
        name: str,
        *,
        label: str,
        to_version: str | None,
        actor: str | None,
        reason: str | None,
    ) -> dict[str, Any]:
        path = f"/v1/prompts/{_path_segment(name)}/labels/{_path_segment(label)}/rollback"
        return self._post(path, {"to_version": to_version, "actor": actor, "reason": reason})

    def deployments(
        self,
        name: str | None,
        *,
        label: str | None,
        since: datetime | None,
        until: datetime | None,
    ) -> dict[str, Any]:
        params = {"prompt_name": name, "label": label, "since": since, "until": until}
        return self._get("/v1/deployments", params)

    def unregistered(self, *, since: datetime | None) -> dict[str, Any]:
        return self._get("/v1/prompts/unregistered", {"since": since})

    # -- the signal inference job --------------------------------------------------------
    def run_signals(self, *, full: bool) -> dict[str, Any]:
        return self._post("/v1/signals/run", {"full": full}, timeout=SIGNALS_TIMEOUT_SECONDS)

    def signals_status(self) -> dict[str, Any]:
        return self._get("/v1/signals/status")

    def close(self) -> None:
        self._client.close()


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text.strip()[:300]}
    return body if isinstance(body, dict) else {"message": str(body)[:300]}


def _option_for(param: str) -> str:
    """``evidence.0.kind`` -> ``--evidence``; ``session_id`` -> ``--session``."""
    name = param.split(".", 1)[0]
    return _PARAM_OPTIONS.get(name, "--" + name.replace("_", "-"))


def _invalid_request(body: dict[str, Any], message: str) -> CliError:
    """The collector's 422: bad input, reported against the option that carried it."""
    field = body.get("field")
    if field is None and body.get("errors"):
        first = body["errors"][0]
        field, message = first.get("field"), str(first.get("reason", message))
    if field:
        return usage_error(_option_for(str(field)), message)
    return CliError(message, exit_code=EXIT_USAGE)


def _filter_params(filters: InteractionFilter) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in asdict(filters).items()
    }


def _path_segment(value: str) -> str:
    return quote(value, safe="")


def check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise usage_error("--url", f"{url!r} is not an http:// or https:// URL")
    return url


def open_local_store(url: str) -> Store:
    """Open a store for reading: DuckDB read-only, and never migrated by a read."""
    try:
        store = open_store(url, migrate=False, read_only=True)
    except StoreLockedError:
        raise
    except StoreError as exc:
        raise usage_error("--store", f"cannot open {redact_url(url)}: {exc}") from None
    if store.schema_version() == 0:
        store.close()
        raise usage_error(
            "--store",
            f"{redact_url(url)} has no promptloop tables: run `promptloop migrate` "
            "or `promptloop demo load` first",
        )
    return store


def open_store_for_writing(url: str, *, migrate: bool = True) -> Store:
    """Open a store to write to it; a DuckDB file held elsewhere raises StoreLockedError."""
    try:
        return open_store(url, migrate=migrate)
    except StoreLockedError:
        raise
    except StoreError as exc:
        raise usage_error("--store", f"cannot open {redact_url(url)}: {exc}") from None


def open_writable_store(url: str, *, migrate: bool = True) -> Store:
    """Open a store to write to it (migrations, demo data, the collector)."""
    try:
        return open_store_for_writing(url, migrate=migrate)
    except StoreLockedError:
        raise CliError(
            f"{redact_url(url)} is held by another process (a running collector?): "
            "stop it first, or point --store at another store",
            exit_code=EXIT_USAGE,
        ) from None


def collector_answers(base_url: str) -> bool:
    """True when ``/healthz`` at ``base_url`` says ok."""
    try:
        response = httpx.get(f"{base_url}/healthz", timeout=2.0)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def connect(target: Target, *, write: bool = False) -> Backend:
    """The collector at --url, else the store (writable for ``write``), else the fallback."""
    if target.url:
        return RemoteBackend(check_url(target.url), target.api_key)
    store_url = target.resolved_store_url
    try:
        store = open_store_for_writing(store_url) if write else open_local_store(store_url)
    except StoreLockedError:
        return _fallback(store_url, target.api_key)
    return LocalBackend(store)


def _fallback(store_url: str, api_key: str | None) -> Backend:
    if not collector_answers(FALLBACK_URL):
        raise CliError(
            f"{redact_url(store_url)} is locked by another process (a running collector?) and "
            f"no collector answers at {FALLBACK_URL}/healthz: pass --url with the address of "
            "the collector that owns the store",
            exit_code=EXIT_USAGE,
        )
    note = f"{redact_url(store_url)} is held by a running collector: asking it at {FALLBACK_URL}"
    err_console().print(Text(note, style="dim"), soft_wrap=True)
    return RemoteBackend(FALLBACK_URL, api_key)


@contextmanager
def open_backend(target: Target, *, write: bool = False, spinner: bool = True) -> Iterator[Backend]:
    """The backend for ``target``, with a spinner on stderr (terminals only) while in use.

    ``write`` opens a local store writable (migrating it first); ``spinner=False`` leaves
    stderr to the caller (a progress bar).
    """
    backend = connect(target, write=write)
    try:
        if not spinner:
            yield backend
            return
        doing = "writing to" if write else "reading from"
        with err_console().status(f"{doing} the {backend.where}"):
            yield backend
    finally:
        backend.close()
