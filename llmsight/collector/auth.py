"""Ingest tokens: ``--ingest-token`` / ``LLMSIGHT_INGEST_TOKENS``.

The setting is a comma-separated list; ``token=tenant`` binds a tenant name that the
collector writes as the ``llmsight.tenant`` resource attribute, overriding whatever the
sender put there. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

TENANT_ATTRIBUTE = "llmsight.tenant"


@dataclass(frozen=True)
class Principal:
    tenant: str | None

    def resource_overrides(self) -> dict[str, str] | None:
        return {TENANT_ATTRIBUTE: self.tenant} if self.tenant else None


ANONYMOUS = Principal(tenant=None)


class TokenAuth:
    def __init__(self, spec: str) -> None:
        self._tokens: list[tuple[bytes, str | None]] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            token, _, tenant = item.partition("=")
            self._tokens.append((token.strip().encode(), tenant.strip() or None))

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def check(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization`` header value, or None when refused."""
        if not self._tokens:
            return ANONYMOUS
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        offered = authorization[7:].strip().encode()
        found: Principal | None = None
        for token, tenant in self._tokens:  # no early exit: the time taken does not depend on which matched
            if hmac.compare_digest(token, offered):
                found = Principal(tenant)
        return found
