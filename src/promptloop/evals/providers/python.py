"""Python providers: a function in a file (``python:path.py:func``, ``file://path.py:func``) or
a callable handed over directly.

A function follows promptfoo's Python provider contract, ``call_api(prompt, options,
context)`` with ``options = {"config": ...}`` and ``context = {"vars": ...}``, and returns a
string or a dict ``{"output", "tokenUsage": {"prompt", "completion"}, "cost", "error"}``.
A callable taking exactly one parameter receives the :class:`ProviderRequest` instead and
may return a :class:`ProviderResponse`. Sync functions run in a worker thread; async
functions are awaited.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from promptloop.evals.providers.base import BaseProvider, CallFailed
from promptloop.evals.types import ProviderRequest, ProviderResponse

DEFAULT_FUNCTION = "call_api"


def split_function_ref(reference: str, default_function: str) -> tuple[str, str]:
    """``file://dir/x.py:fn`` or ``dir/x.py:fn`` -> (``dir/x.py``, ``fn``)."""
    path = reference.removeprefix("file://")
    if path.count(":") and not path.endswith(".py"):
        path, _, function = path.rpartition(":")
        return path, function or default_function
    return path, default_function


def load_function(
    reference: str, *, base_dir: Path | None = None, default_function: str
) -> Callable[..., Any]:
    """Import ``function`` from the Python file ``reference`` names (relative to ``base_dir``)."""
    relative, function = split_function_ref(reference, default_function)
    path = Path(relative)
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if not path.is_file():
        raise ValueError(f"{reference}: no such Python file ({path})")
    # A stable, unique module name per file, so two files named like each other do not clash.
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"promptloop_user_{path.stem}_{digest}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{reference}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ValueError(f"{reference}: importing {path} failed: {exc}") from exc
    target = getattr(module, function, None)
    if not callable(target):
        raise ValueError(f"{reference}: {path.name} has no function {function!r}")
    return target  # type: ignore[no-any-return]


async def call_maybe_async(function: Callable[..., Any], *args: Any) -> Any:
    """Await an async function; run a sync one in a worker thread."""
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    result = await asyncio.to_thread(function, *args)
    if inspect.isawaitable(result):
        return await result
    return result


def _takes_request(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) == 1


def response_from_result(result: Any) -> ProviderResponse:
    """A provider response from what a user function returned."""
    if isinstance(result, ProviderResponse):
        return result
    if isinstance(result, str):
        return ProviderResponse(output=result)
    if isinstance(result, Mapping):
        if result.get("error"):
            raise CallFailed(str(result["error"]))
        output = result.get("output", "")
        usage = result.get("tokenUsage") or result.get("token_usage") or {}
        cost = result.get("cost")
        return ProviderResponse(
            output=output if isinstance(output, str) else json.dumps(output),
            input_tokens=_int_or_none(usage.get("prompt")),
            output_tokens=_int_or_none(usage.get("completion")),
            cost_usd=float(cost) if isinstance(cost, int | float) else None,
            raw=dict(result),
        )
    raise CallFailed(
        f"the function returned {type(result).__name__}; expected a string, a dict with"
        " 'output', or a ProviderResponse"
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class PythonProvider(BaseProvider):
    """Calls a Python function; its exceptions become (non-retryable) errors."""

    kind = "python"

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        provider_id: str,
        config: Mapping[str, Any] | None = None,
        label: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        super().__init__(provider_id, config=config, label=label, cache_dir=cache_dir)
        self.function = function
        self._takes_request = _takes_request(function)

    async def _complete(self, request: ProviderRequest) -> ProviderResponse:
        try:
            if self._takes_request:
                result = await call_maybe_async(self.function, request)
            else:
                options = {"config": {**self.config, **request.settings}}
                context = {"vars": dict(request.vars)}
                result = await call_maybe_async(self.function, request.prompt, options, context)
        except CallFailed:
            raise
        except Exception as exc:
            raise CallFailed(f"{type(exc).__name__}: {exc}") from exc
        return response_from_result(result)
