"""Ingest tokens: ``--ingest-token`` / ``LLMSIGHT_INGEST_TOKENS``, and ``LLMSIGHT_EXPERIMENT_TOKENS``.

The first setting is a comma-separated list of three kinds of token:

- ``token=tenant`` binds a tenant: the collector writes it as the ``llmsight.tenant`` resource
  attribute, overriding whatever the sender put there. Such a token cannot use the query
  endpoint (it would see every tenant's rows there).
- ``token=*`` is a gateway's token: its senders may name any tenant in that attribute.
- ``token`` alone is an operator's token: it may use the query endpoint, but its senders cannot
  claim a tenant (the attribute is emptied), so a leaked app token cannot write as a tenant.

Experiment data (``llmsight eval run``'s runs, rows and scores, which gates read) is filed only from
a resource that carries ``llmsight.experiments = 1``. Only a token of ``LLMSIGHT_EXPERIMENT_TOKENS``
(operator tokens that may also write experiments) or a gateway's may send that: any other token's
request claiming it is refused (403), and the attribute is emptied on everything else it sends. So
an app's leaked token cannot forge the baseline a release is gated against.

With no tokens configured nothing is checked and the attributes pass as sent (loopback use).
Tokens are compared in constant time. They are accepted as ``Authorization: Bearer T``; the
query endpoint also takes HTTP Basic with T as the password (what ClickHouse clients send).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

TENANT_ATTRIBUTE = "llmsight.tenant"
EXPERIMENTS_ATTRIBUTE = "llmsight.experiments"  # "1" on experiment data; see the module docstring
ANY_TENANT = "*"


class ExperimentsNotAllowed(Exception):
    """A request claims to carry experiment data from a token that may not send it (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    tenant: str | None  # None: may name any tenant; "": none; else the bound tenant
    authenticated: bool = True
    experiments: bool = True  # may send experiment data (EXPERIMENTS_ATTRIBUTE passes as sent)

    @property
    def bound(self) -> bool:
        return bool(self.tenant)

    def resource_overrides(self) -> dict[str, str] | None:
        overrides = {TENANT_ATTRIBUTE: self.tenant} if self.tenant is not None else {}
        if not self.experiments:
            overrides[EXPERIMENTS_ATTRIBUTE] = ""
        return overrides or None


ANONYMOUS = Principal(tenant=None, authenticated=False)


class TokenAuth:
    def __init__(self, spec: str, experiments: str = "") -> None:
        """``spec``: LLMSIGHT_INGEST_TOKENS; ``experiments``: LLMSIGHT_EXPERIMENT_TOKENS (operator tokens)."""
        self._tokens: list[tuple[bytes, Principal]] = []
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            token, _, tenant = item.partition("=")
            tenant = tenant.strip()
            gateway = tenant == ANY_TENANT
            principal = Principal(None if gateway else tenant, experiments=gateway)
            self._tokens.append((token.strip().encode(), principal))
        for item in (part.strip() for part in experiments.split(",")):
            if not item:
                continue
            listed = [p for token, p in self._tokens if token == item.encode()]
            if any(p.tenant != "" for p in listed):  # a tenant's or a gateway's: which was meant?
                raise ValueError("a token of LLMSIGHT_EXPERIMENT_TOKENS is an operator's: not also token=tenant or =*")
            self._tokens = [(token, p) for token, p in self._tokens if token != item.encode()]
            self._tokens.append((item.encode(), Principal("", experiments=True)))

    def reader_token(self) -> str | None:
        """The first token that may use the query endpoint (operator or gateway), for the CLI to send."""
        return next((token.decode() for token, p in self._tokens if not p.tenant), None)

    def experiment_token(self) -> str | None:
        """The first token that may send experiment data and read results (``llmsight eval run``'s)."""
        return next((token.decode() for token, p in self._tokens if p.experiments and not p.tenant), None)

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
        for token, principal in self._tokens:  # no early exit: the time taken does not depend on which matched
            if hmac.compare_digest(token, offered):
                found = principal
        return found
