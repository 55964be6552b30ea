"""Signed feedback tokens: scope, expiry, forgery."""

from __future__ import annotations

import base64
import json

import pytest

from promptloop.core.tokens import TokenError, derive_key, key_id, sign, verify

KEY = derive_key("pl-secret")
KEYS = {key_id(KEY): KEY}
IID = "0b6f1d4e-5a2c-4f7e-9d3b-8c1a2e3f4a5b"


def test_a_token_carries_its_scope_and_expiry() -> None:
    token = sign(KEY, IID, types=["thumbs_up", "thumbs_down"], ttl_seconds=60, now=1000)
    claims = verify(token, KEYS, now=1059)
    assert claims.interaction_id == IID
    assert claims.allows("thumbs_down") and not claims.allows("edit")
    with pytest.raises(TokenError) as expired:
        verify(token, KEYS, now=1060)
    assert expired.value.code == "expired_token"


def test_forged_and_tampered_tokens_are_refused() -> None:
    token = sign(KEY, IID, now=1000)
    body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["i"] = "11111111-1111-1111-1111-111111111111"
    forged_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    for bad, code in [
        (f"{forged_body}.{signature}", "invalid_token"),
        (sign(derive_key("someone-else"), IID, now=1000), "invalid_token"),
        ("not-a-token", "malformed_token"),
        ("e30.abc", "malformed_token"),
    ]:
        with pytest.raises(TokenError) as refused:
            verify(bad, KEYS, now=1001)
        assert refused.value.code == code, bad


def test_the_key_is_derived_not_the_secret() -> None:
    assert KEY != b"pl-secret" and len(KEY) == 32
    assert derive_key("pl-secret") == KEY
