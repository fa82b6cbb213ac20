"""The access tokens the emulated Entra ID has issued, kept outside the resettable estate.

A test's credential caches its token; keeping the token book apart from the estate lets that credential keep
working across `/_sandbox/reset` while everything else starts over.
"""

from __future__ import annotations

import base64
import json
import secrets
import time

from ..state.tenant import Principal


class TokenIssuer:
    """Tokens are JWT-shaped (so tools that peek at `oid`/`tid` work) but validated only by lookup here."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, principal: Principal, tenant_id: str, audience: str, lifetime: int) -> str:
        """A bearer token for `audience`, valid for `lifetime` real seconds."""
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "oid": principal.object_id,
            "tid": tenant_id,
            "sub": principal.object_id,
            "appid": principal.client_id,
            "idtyp": "app",
            "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "RS256", "kid": "asr-sandbox"}
        token = ".".join((_b64(header), _b64(claims), secrets.token_urlsafe(32)))
        self._tokens[token] = (principal.object_id, now + lifetime)
        return token

    def resolve(self, token: str) -> tuple[str, float] | None:
        """(object id, expiry epoch seconds) of a token this emulator issued."""
        return self._tokens.get(token)


def _b64(document: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).rstrip(b"=").decode()
