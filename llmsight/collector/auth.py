"""Ingest tokens: ``--ingest-token`` / ``LLMSIGHT_INGEST_TOKENS``.

The setting is a comma-separated list of three kinds of token:

- ``token=tenant`` binds a tenant: the collector writes it as the ``llmsight.tenant`` resource
  attribute, overriding whatever the sender put there. Such a token cannot use the query
  endpoint (it would see every tenant's rows there).
- ``token=*`` is a gateway's token: its senders may name any tenant in that attribute.
- ``token`` alone is an operator's token: it may use the query endpoint, but its senders cannot
  claim a tenant (the attribute is emptied), so a leaked app token cannot write as a tenant.

With no tokens configured nothing is checked and the attribute passes as sent (loopback use).
Tokens are compared in constant time. They are accepted as ``Authorization: Bearer T``; the
query endpoint also takes HTTP Basic with T as the password (what ClickHouse clients send).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

TENANT_ATTRIBUTE = "llmsight.tenant"
ANY_TENANT = "*"


@dataclass(frozen=True)
class Principal:
    tenant: str | None  # None: may name any tenant; "": none; else the bound tenant
    authenticated: bool = True

    @property
    def bound(self) -> bool:
        return bool(self.tenant)

    def resource_overrides(self) -> dict[str, str] | None:
        return {TENANT_ATTRIBUTE: self.tenant} if self.tenant is not None else None


ANONYMOUS = Principal(tenant=None, authenticated=False)


class TokenAuth:
    def __init__(self, spec: str) -> None:
        self._tokens: list[tuple[bytes, str | None]] = []  # (token, tenant as in Principal)
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            token, _, tenant = item.partition("=")
            tenant = tenant.strip()
            self._tokens.append((token.strip().encode(), None if tenant == ANY_TENANT else tenant))

    def reader_token(self) -> str | None:
        """The first token that may use the query endpoint (operator or gateway), for the CLI to send."""
        return next((token.decode() for token, tenant in self._tokens if not tenant), None)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def check(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization: Bearer`` header value, or None when refused."""
        if not self._tokens:
            return ANONYMOUS
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        return self._match(authorization[7:].strip().encode())

    def check_basic_or_bearer(self, authorization: str | None) -> Principal | None:
        """Like ``check``, also taking ``Basic user:TOKEN`` (ClickHouse clients' way to send a password)."""
        if not self._tokens or not authorization or authorization[:6].lower() != "basic ":
            return self.check(authorization)
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return self._match(decoded.partition(b":")[2])

    def _match(self, offered: bytes) -> Principal | None:
        found: Principal | None = None
        for token, tenant in self._tokens:  # no early exit: the time taken does not depend on which matched
            if hmac.compare_digest(token, offered):
                found = Principal(tenant)
        return found
