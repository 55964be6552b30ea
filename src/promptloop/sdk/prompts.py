"""Prompts from the registry (``get_prompt``) or defined in code (``Prompt``).

A :class:`Prompt` renders with variables and carries its name, semantic version and content
hash; rendered inside a tracked call (or passed as ``@track(prompt=...)``) it stamps the
interaction with them. ``get_prompt`` caches what it fetched for ``prompt_cache_ttl``
seconds, refreshes stale entries in the background, and when the collector cannot be reached
keeps using the last version it fetched (kept on disk too, across restarts): the app never
fails because of the registry.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from promptloop.core.prompts import content_hash, render, variables_of
from promptloop.exceptions import PromptloopError
from promptloop.sdk import client as _client_mod
from promptloop.sdk.config import Settings, promptloop_home, url_hash
from promptloop.sdk.context import ACTIVE_CALL
from promptloop.sdk.guard import handle_internal_error

logger = logging.getLogger("promptloop")
FETCH_TIMEOUT = 2.0
REGISTER_RETRY_AFTER = 30.0


class PromptUnavailable(PromptloopError):
    """``get_prompt`` found neither the registry, nor a cached copy, nor a fallback."""


class Prompt:
    """A prompt template with its registry identity.

    >>> p = Prompt("greeter", "Hello {{name}}!", {"temperature": 0.2}, register=False)
    >>> p.render(name="Ada")
    'Hello Ada!'
    >>> p.hash.startswith("sha256:")
    True

    Defined in code (``register=True``, the default), it is registered with the collector
    in the background on first use, with ``rationale`` as its changelog entry.
    """

    def __init__(
        self,
        name: str,
        template: str,
        settings: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        label: str | None = None,
        rationale: str | None = None,
        register: bool = True,
    ) -> None:
        self.name = name
        self.template = template
        self.settings = dict(settings or {})
        self.hash = content_hash(template, self.settings)
        self.version = version
        self.label = label
        self.rationale = rationale
        self._register = register and version is None
        self._registering = threading.Lock()
        self._last_attempt = float("-inf")
        self._registration: threading.Thread | None = None

    @property
    def variables(self) -> list[str]:
        return variables_of(self.template)

    def render(self, **variables: Any) -> str:
        """Fill ``{{variables}}``; a missing one raises ``PromptRenderError`` naming it."""
        text = render(self.template, variables)
        try:
            self.stamp()
        except Exception as exc:
            handle_internal_error(exc, "Prompt.render")
        return text

    def stamp(self, system_prompt: str | None = None) -> None:
        """Record this prompt on the tracked call in progress (if any); register if new."""
        call = ACTIVE_CALL.get()
        if call is not None:
            call.prompt_name = self.name
            call.prompt_version = self.version or call.prompt_version
            call.prompt_hash = self.hash
            if call.system_prompt is None and system_prompt is not None:
                call.system_prompt = system_prompt
        if self._register:
            self._register_in_background()

    def _register_in_background(self) -> None:
        now = time.monotonic()
        if now - self._last_attempt < REGISTER_RETRY_AFTER or not self._registering.acquire(
            blocking=False
        ):
            return
        self._last_attempt = now
        self._registration = threading.Thread(
            target=self._register_now, name="promptloop-register", daemon=True
        )
        self._registration.start()

    def wait_registered(self, timeout: float | None = None) -> bool:
        """Block until a registration started by first use has finished; True if registered.

        Optional: apps never need to wait (interactions carry the hash, and the collector
        fills the version in); it is for start-up checks and tests.
        """
        thread = self._registration
        if thread is not None:
            thread.join(timeout)
        return self.version is not None

    def _register_now(self) -> None:
        try:
            settings = _client_mod.current_client().settings
            if not settings.enabled:
                return
            body = {
                "name": self.name,
                "template": self.template,
                "settings": self.settings,
                "rationale": self.rationale or "Registered from code on first use.",
                "source": "sdk",
            }
            response = _http(settings).post(f"{settings.url}/v1/prompts", json=body)
            response.raise_for_status()
            self.version = response.json()["version"]
            self._register = False
        except Exception as exc:
            logger.info("registering prompt %r failed (will retry): %s", self.name, exc)
        finally:
            self._registering.release()

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, version={self.version!r}, hash={self.hash[:15]}...)"


# -- the registry client ----------------------------------------------------------------
_HTTP: dict[tuple[str, str | None], Any] = {}
_HTTP_LOCK = threading.Lock()


def _http(settings: Settings) -> Any:
    import httpx  # imported on first use: importing promptloop stays light

    key = (settings.url, settings.api_key)
    with _HTTP_LOCK:
        client = _HTTP.get(key)
        if client is None:
            headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
            client = _HTTP[key] = httpx.Client(headers=headers, timeout=FETCH_TIMEOUT)
        return client


class _Entry:
    __slots__ = ("fetched_at", "prompt", "refreshing")

    def __init__(self, prompt: Prompt, fetched_at: float) -> None:
        self.prompt = prompt
        self.fetched_at = fetched_at
        self.refreshing = False


_CACHE: dict[tuple[str, str, str | None, str | None], _Entry] = {}
_CACHE_LOCK = threading.Lock()


def _from_payload(payload: Mapping[str, Any], label: str | None) -> Prompt:
    prompt = Prompt(
        payload["prompt_name"],
        payload["template"],
        payload.get("settings") or {},
        version=payload["version"],
        label=label,
        register=False,
    )
    if prompt.hash != payload["prompt_hash"]:
        raise ValueError(
            f"registry sent {payload['prompt_hash']} but content hashes to {prompt.hash}"
        )
    return prompt


def _disk_path(settings: Settings, name: str, label: str | None, version: str | None) -> Path:
    safe = name.replace("/", "__")
    return (
        promptloop_home() / "prompts" / url_hash(settings.url) / f"{safe}@{version or label}.json"
    )


def _fetch(settings: Settings, name: str, label: str | None, version: str | None) -> Prompt:
    params = {"version": version} if version else {"label": label} if label else {}
    response = _http(settings).get(f"{settings.url}/v1/prompts/{name}/resolve", params=params)
    response.raise_for_status()
    payload = response.json()
    prompt = _from_payload(payload, label)
    try:  # a copy on disk serves a restart during an outage
        path = _disk_path(settings, name, label, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload), encoding="utf-8")
    except OSError as exc:
        logger.info("could not keep prompt %r on disk: %s", name, exc)
    return prompt


def _from_disk(
    settings: Settings, name: str, label: str | None, version: str | None
) -> Prompt | None:
    try:
        payload = json.loads(_disk_path(settings, name, label, version).read_text("utf-8"))
        return _from_payload(payload, label)
    except (OSError, ValueError, KeyError):
        return None


def get_prompt(
    name: str,
    label: str | None = "production",
    *,
    version: str | None = None,
    fallback: Prompt | str | None = None,
) -> Prompt:
    """The prompt ``label`` (or ``version``) points at, from the registry, cached.

    Fresh cache: no network. Stale cache: returned at once and refreshed in the background.
    No cache: fetched (bounded by a 2 s timeout); if that fails, the copy kept on disk, then
    ``fallback`` (a :class:`Prompt` or a template string), else :class:`PromptUnavailable`.
    """
    settings = _client_mod.current_client().settings
    key = (settings.url, name, None if version else label, version)
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
    now = time.monotonic()
    if entry is not None:
        if now - entry.fetched_at >= settings.prompt_cache_ttl and not entry.refreshing:
            entry.refreshing = True
            threading.Thread(
                target=_refresh, args=(settings, key, entry), name="promptloop-prompt", daemon=True
            ).start()
        return entry.prompt
    try:
        prompt = _fetch(settings, name, key[2], version)
    except Exception as exc:
        logger.warning("prompt registry unreachable for %r (%s): using a fallback", name, exc)
        found = _from_disk(settings, name, key[2], version) or _fallback(name, fallback, label)
        if found is None:
            raise PromptUnavailable(
                f"prompt {name!r} is not cached and the registry is unreachable; "
                "pass fallback= to get_prompt"
            ) from exc
        # Stale at once: later calls get it without waiting, and refresh in the background.
        with _CACHE_LOCK:
            _CACHE[key] = _Entry(found, float("-inf"))
        return found
    with _CACHE_LOCK:
        _CACHE[key] = _Entry(prompt, now)
    return prompt


def _fallback(name: str, fallback: Prompt | str | None, label: str | None) -> Prompt | None:
    if fallback is None or isinstance(fallback, Prompt):
        return fallback
    return Prompt(name, fallback, label=label, register=False)


def _refresh(
    settings: Settings, key: tuple[str, str, str | None, str | None], entry: _Entry
) -> None:
    try:
        prompt = _fetch(settings, key[1], key[2], key[3])
        with _CACHE_LOCK:
            _CACHE[key] = _Entry(prompt, time.monotonic())
    except Exception as exc:  # keep serving the last version fetched
        logger.info("refreshing prompt %r failed, keeping the cached version: %s", key[1], exc)
        entry.fetched_at = time.monotonic()
    finally:
        entry.refreshing = False


def clear_prompt_cache() -> None:
    """Forget cached prompts (the copies on disk stay)."""
    with _CACHE_LOCK:
        _CACHE.clear()
