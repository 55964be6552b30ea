"""Feedback tokens for the browser: the app's server signs, the widget only ever holds tokens.

>>> import promptloop
>>> client = promptloop.init("http://127.0.0.1:8321", enabled=False, feedback_secret="s3cret")
>>> token = promptloop.feedback_token("0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b")
>>> token.count(".")
1
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from promptloop.core.tokens import BROWSER_TYPES, DEFAULT_TTL_SECONDS, derive_key, sign
from promptloop.sdk import client as _client_mod
from promptloop.sdk.context import LAST_INTERACTION
from promptloop.sdk.guard import guarded

logger = logging.getLogger("promptloop")

_KEYS: dict[str, bytes] = {}


def _key_for(secret: str) -> bytes:
    key = _KEYS.get(secret)
    if key is None:
        key = _KEYS[secret] = derive_key(secret)
    return key


@guarded(None)
def feedback_token(
    interaction_id: str | None = None,
    *,
    types: Iterable[str] = BROWSER_TYPES,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> str | None:
    """A signed token that lets a browser send feedback about one interaction.

    Signed with ``feedback_secret`` (``PROMPTLOOP_FEEDBACK_SECRET``), else the API key: the
    collector must know the same secret. ``interaction_id`` defaults to the last tracked
    call's. Returns ``None`` (and logs why) when there is no secret or no interaction.
    """
    settings = _client_mod.current_client().settings
    # The collector accepts a comma-separated list (to rotate secrets); sign with the first.
    first = (settings.feedback_secret or "").split(",")[0].strip()
    secret = first or settings.api_key
    target = interaction_id or LAST_INTERACTION.get()
    if not secret:
        logger.warning("feedback_token: set feedback_secret (or api_key) to sign tokens")
        return None
    if not target:
        logger.warning("feedback_token: no interaction ID given and no tracked call yet")
        return None
    return sign(_key_for(secret), target, types=list(types), ttl_seconds=ttl_seconds)
