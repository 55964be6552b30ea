"""Where the CLI reads from: the store directly, or the collector's HTTP API.

Both implementations of :class:`Backend` return the JSON shapes of the collector's
``/v1`` endpoints, so a command renders the same output whichever one answered.

- ``--url`` (or ``PROMPTLOOP_URL``) given: :class:`RemoteBackend`.
- otherwise :class:`LocalBackend` on ``--store``, opened read-only. When the DuckDB file is
  held by a running collector, the CLI asks the collector at :data:`FALLBACK_URL` instead,
  if its ``/healthz`` answers; if not, it stops with exit code 2 and asks for ``--url``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx
import typer
from rich.text import Text

from promptloop.analytics import queries
from promptloop.analytics.queries import InteractionFilter
from promptloop.cli._errors import EXIT_USAGE, CliError, usage_error
from promptloop.cli._output import err_console, jsonable_object, redact_url
from promptloop.exceptions import ClientError, StoreError, StoreLockedError
from promptloop.store import default_store_url, open_store
from promptloop.store.base import Store

FALLBACK_URL = "http://127.0.0.1:8321"
TIMEOUT_SECONDS = 30.0

# Query parameters of the API whose option has another name.
_PARAM_OPTIONS = {"session_id": "--session"}


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


class Backend(Protocol):
    """The read side of the collector's API, as the CLI uses it."""

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

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


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

    def stats(self) -> dict[str, Any]:
        counts = self.store.fetch_all(
            "SELECT (SELECT count(*) FROM llm_interaction_logs) AS interactions,"
            " (SELECT count(*) FROM feedback_events) AS feedback_events"
        )
        info = {"dialect": self.store.dialect, "schema_version": self.store.schema_version()}
        return jsonable_object({"store": {**info, **counts[0]}})

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
        sent = {key: value for key, value in (params or {}).items() if value is not None}
        try:
            response = self._client.get(path, params=sent, headers=self._headers)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the collector at {self.where}: {exc}") from None
        if response.is_error:
            raise self._error(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ClientError(
                f"the {self.where} did not answer {path} with a JSON object: "
                "is --url the base URL of a promptloop collector?"
            )
        return body

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

    def stats(self) -> dict[str, Any]:
        return self._get("/v1/stats")

    def close(self) -> None:
        self._client.close()


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text.strip()[:300]}
    return body if isinstance(body, dict) else {"message": str(body)[:300]}


def _option_for(param: str) -> str:
    return _PARAM_OPTIONS.get(param, "--" + param.replace("_", "-"))


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


def open_writable_store(url: str, *, migrate: bool = True) -> Store:
    """Open a store to write to it (migrations, demo data, the collector)."""
    try:
        return open_store(url, migrate=migrate)
    except StoreLockedError:
        raise CliError(
            f"{redact_url(url)} is held by another process (a running collector?): "
            "stop it first, or point --store at another store",
            exit_code=EXIT_USAGE,
        ) from None
    except StoreError as exc:
        raise usage_error("--store", f"cannot open {redact_url(url)}: {exc}") from None


def collector_answers(base_url: str) -> bool:
    """True when ``/healthz`` at ``base_url`` says ok."""
    try:
        response = httpx.get(f"{base_url}/healthz", timeout=2.0)
        return response.status_code == 200 and response.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def connect(target: Target) -> Backend:
    if target.url:
        return RemoteBackend(check_url(target.url), target.api_key)
    store_url = target.resolved_store_url
    try:
        return LocalBackend(open_local_store(store_url))
    except StoreLockedError:
        return _fallback(store_url, target.api_key)


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
def open_backend(target: Target) -> Iterator[Backend]:
    """The backend for ``target``, with a spinner on stderr (terminals only) while in use."""
    backend = connect(target)
    try:
        with err_console().status(f"reading from the {backend.where}"):
            yield backend
    finally:
        backend.close()
