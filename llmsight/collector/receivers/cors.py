"""CORS for the OTLP/HTTP receiver, so a web page (a feedback button) can post OTLP/JSON to ``/v1/*``.

Off unless ``LLMSIGHT_CORS_ALLOWED_ORIGINS`` lists origins, as the OpenTelemetry Collector's
``cors.allowed_origins``; with the list empty no response carries a CORS header and browsers
refuse cross-origin posts (an OTLP body is never a CORS "simple" request, so a page always asks
first). Only exact origins: ``*`` (any page on the web) and ``null`` (sandboxed frames, ``file:``
pages) are refused, because the receivers accept anything without a token and a loopback or
intranet collector would then take writes from whatever site its user visits. Credentials
(cookies) are never allowed: a page authenticates with a bearer token, which it must send itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

SETTING = "LLMSIGHT_CORS_ALLOWED_ORIGINS (--cors-allowed-origins)"
PATH_PREFIX = "/v1/"
ALLOW_HEADERS = ("Content-Type", "Authorization", "Content-Encoding")
EXPOSE_HEADERS = ("Retry-After",)  # so a page can honour 429 / 503 like the SDKs do
MAX_AGE_S = 600  # how long a browser may reuse a preflight answer
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(spec: str) -> list[str]:
    """Comma-separated origins as a browser sends them (``https://app.example.com``); ValueError otherwise.

    Case, a trailing ``/`` and a scheme's default port are normalised away, since a browser's
    ``Origin`` never has them; anything else an origin cannot contain is refused, naming the setting.
    """
    origins: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item == "*" or item.lower() == "null":  # null: what sandboxed frames and file: pages send
            raise ValueError(
                f"{SETTING}: {item!r} is not allowed: it would let any web page post to the collector; "
                "list your front end's exact origins, e.g. https://app.example.com"
            )
        if "*" in item:
            raise ValueError(f"{SETTING}: {item!r}: wildcards are not supported; list each origin exactly")
        origin = _origin(item)
        if origin not in origins:
            origins.append(origin)
    return origins


def _origin(item: str) -> str:
    example = "scheme://host[:port], e.g. https://app.example.com or http://localhost:3000"
    try:
        parts = urlsplit(item)
        port = parts.port
    except ValueError:
        raise ValueError(f"{SETTING}: {item!r} is not an origin ({example})") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host:
        raise ValueError(f"{SETTING}: {item!r} is not an origin ({example})")
    if parts.username is not None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{SETTING}: {item!r} has more than an origin: keep only {example}")
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else "")


class OTLPCORSMiddleware(CORSMiddleware):
    """Starlette's CORS for ``/v1/*`` only (``/healthz`` and ``/metrics`` stay same-origin), and no
    ``Access-Control-*`` header at all, on a preflight or on the request, for an origin not listed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin):
            return PlainTextResponse(
                f"CORS origin {origin} is not allowed: add it to {SETTING}", status_code=400, headers={"Vary": "Origin"}
            )
        return super().preflight_response(request_headers)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin) or message["type"] != "http.response.start":
            await super().send(message, send, request_headers)
            return
        message.setdefault("headers", [])
        MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)


def cors_middleware(origins: list[str]) -> list[Middleware]:
    """The receiver's middleware: none without origins, so nothing changes unless it is configured."""
    if not origins:
        return []
    return [
        Middleware(
            OTLPCORSMiddleware,
            allow_origins=origins,
            allow_methods=("POST",),
            allow_headers=ALLOW_HEADERS,
            allow_credentials=False,
            expose_headers=EXPOSE_HEADERS,
            max_age=MAX_AGE_S,
        )
    ]
