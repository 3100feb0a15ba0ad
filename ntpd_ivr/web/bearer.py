"""Bearer tokens (`Authorization: Bearer <token>`) for machine clients: the header read, and
who holds a token. The token store is the API's (api/tokens.py TokenStore, under TOKENS,
set by api.http.add_routes); /api/v1 and /metrics both read it here."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web


class TokenHolder(Protocol):
    @property
    def role(self) -> str: ...


class TokenCheck(Protocol):
    async def authenticate(self, secret: str) -> TokenHolder | None:
        """Who holds the token; None when it is unknown or revoked."""


TOKENS: web.AppKey[TokenCheck] = web.AppKey("bearer_tokens")


def bearer_of(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header; "" for another scheme."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
