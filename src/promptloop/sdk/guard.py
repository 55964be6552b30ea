"""The one guard every SDK code path goes through: the SDK never raises into the host.

An exception raised by promptloop's own code is logged on the ``promptloop`` logger and
counted (``Client.stats()["internal_errors"]``), then swallowed. With ``strict=True``
(what the test suite uses) it is re-raised instead, so SDK bugs surface. Exceptions raised
by the host's own code (a tracked function, an LLM provider) are never swallowed: wrappers
run host code outside the guard and re-raise the host's exception unchanged.

Usage, as a context manager or a decorator::

    with GUARD:
        risky_sdk_work()

    @guarded(default=None)
    def entry_point() -> str | None: ...
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import ParamSpec, TypeVar

logger = logging.getLogger("promptloop")

P = ParamSpec("P")
R = TypeVar("R")
D = TypeVar("D")

# Log the first few internal errors with a traceback, then one in every _LOG_EVERY: an SDK
# bug that fires on every call must not flood the host's logs or slow it down.
_LOG_FIRST = 10
_LOG_EVERY = 1000


class _GuardState:
    def __init__(self) -> None:
        self.strict = False
        self.errors = 0
        self.lock = threading.Lock()


_STATE = _GuardState()


def set_strict(strict: bool) -> None:
    """Re-raise internal errors (``True``) or log and count them (``False``, the default)."""
    _STATE.strict = strict


def is_strict() -> bool:
    return _STATE.strict


def internal_error_count() -> int:
    """How many internal errors the SDK has swallowed (or raised, in strict mode)."""
    return _STATE.errors


def handle_internal_error(exc: BaseException, where: str = "", *, reraise: bool = True) -> None:
    """Count and log ``exc``; re-raise it when strict. Call from an ``except`` block.

    ``reraise=False`` is for the background thread: there is no caller to raise to, and a
    dead sender thread would lose every later event.
    """
    with _STATE.lock:
        _STATE.errors += 1
        count = _STATE.errors
    if count <= _LOG_FIRST or count % _LOG_EVERY == 0:
        logger.warning(
            "promptloop internal error%s (#%d); the host app is unaffected",
            f" in {where}" if where else "",
            count,
            exc_info=exc,
        )
    if _STATE.strict and reraise:
        raise exc


class Guard:
    """Context manager that swallows (and counts) SDK exceptions unless strict.

    Stateless, so one instance is shared by every thread and task.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit and friends always propagate.
            return False
        handle_internal_error(exc)
        return True


GUARD = Guard()


def guarded(default: D) -> Callable[[Callable[P, R]], Callable[P, R | D]]:
    """Decorate an SDK entry point: on an internal error return ``default`` (or raise if strict)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R | D]:
        where = getattr(fn, "__qualname__", "")

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | D:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                handle_internal_error(exc, where)
                return default

        return wrapper

    return decorate
