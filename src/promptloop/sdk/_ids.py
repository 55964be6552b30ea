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
import time
from collections import deque

_POOL: deque[str] = deque()
_POOL_TARGET = 8192
_BATCH = 256
# When a burst empties the pool before the sender thread refills it, the host thread takes a
# small batch: one urandom call for several IDs, but never a long stall on one call.
_HOT_BATCH = 16
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
        # A burst outran the sender's refills: take a small batch now, not one ID per call.
        _POOL.extend(_batch(_HOT_BATCH))
        return _POOL.popleft()


def refill(target: int = _POOL_TARGET, *, yield_gil: bool = False) -> None:
    """Top the pool up to ``target`` IDs (called off the hot path).

    ``yield_gil``: the sender thread hands the GIL back between batches, so host threads
    never wait for the whole refill.
    """
    while len(_POOL) < target:
        _POOL.extend(_batch(_BATCH))
        if yield_gil:
            time.sleep(0)


def _clear_after_fork() -> None:
    # A child process must never reuse IDs its parent may also hand out.
    _POOL.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_clear_after_fork)
