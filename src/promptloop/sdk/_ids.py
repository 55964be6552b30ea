"""Fast UUID4 strings for interaction and feedback IDs.

``str(uuid.uuid4())`` costs several microseconds on small machines, a large share of the
per-call budget of :func:`promptloop.track`. IDs are therefore pre-generated in batches
(one ``os.urandom`` call per batch) into a pool that the background thread keeps topped
up; the hot path only pops from it. IDs are handed to browsers, so they come from the
OS CSPRNG, never from ``random``: a predictable ID would let anyone post feedback
against someone else's interaction.
"""

from __future__ import annotations

import os
from collections import deque

_POOL: deque[str] = deque()
_POOL_TARGET = 2048
_BATCH = 256
# Version nibble is forced to 4; the variant nibble to 8..b (RFC 4122), chosen from the
# random nibble's low two bits.
_VARIANT = "89ab" * 4


def _format(h: str) -> str:
    return (
        h[:8]
        + "-"
        + h[8:12]
        + "-4"
        + h[13:16]
        + "-"
        + _VARIANT[int(h[16], 16)]
        + h[17:20]
        + "-"
        + h[20:32]
    )


def _batch(count: int) -> list[str]:
    raw = os.urandom(16 * count).hex()
    return [_format(raw[i : i + 32]) for i in range(0, 32 * count, 32)]


def new_id() -> str:
    """A random UUID4 string, e.g. ``'1b4e28ba-2fa1-41d2-883f-0016d3cca427'``."""
    try:
        return _POOL.popleft()
    except IndexError:
        # A burst outran the sender's refills: take a whole batch now, not one ID per call.
        _POOL.extend(_batch(_BATCH))
        return _POOL.popleft()


def refill(target: int = _POOL_TARGET) -> None:
    """Top the pool up to ``target`` IDs (called off the hot path)."""
    while len(_POOL) < target:
        _POOL.extend(_batch(_BATCH))


def _clear_after_fork() -> None:
    # A child process must never reuse IDs its parent may also hand out.
    _POOL.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_clear_after_fork)
