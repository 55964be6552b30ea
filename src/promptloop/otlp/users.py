"""User IDs from spans, hashed the way the SDK hashes them (``promptloop.sdk.hashing``).

The SDK pseudonymises user IDs before they leave the app; spans from other instrumentation
carry raw IDs. Given the same key, :func:`user_id_hasher` maps a raw ID to exactly the ID the
SDK would have sent (``u_`` + the first 32 hex digits of HMAC-SHA256), and leaves IDs that
are hashed already alone, so both paths name one user the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

_HASHED = re.compile(r"^u_[0-9a-f]{32}$")


def user_id_hasher(key: str) -> Callable[[str], str]:
    secret = key.encode()

    def hash_user_id(raw: str) -> str:
        if _HASHED.match(raw):
            return raw
        digest = hmac.new(secret, raw.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return "u_" + digest.hexdigest()[:32]

    return hash_user_id
