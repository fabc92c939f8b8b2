"""A read-only, ClickHouse-compatible HTTP endpoint over the collector's store.

An embedded chDB store is locked by the process that opens it, so while ``llmsight serve``
runs, other processes (the CLI, Grafana, a notebook with clickhouse-connect) read through
this endpoint instead. It speaks enough of ClickHouse's HTTP interface for clickhouse-connect
and other HTTP clients: the query from the ``query`` parameter and/or the body, other URL
parameters as settings, the result in the format the query asks for. Queries run with
``readonly=2``, so nothing can be written through it; with ingest tokens configured it asks
for the same bearer token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmsight.collector.auth import TokenAuth

# URL parameters that are part of the HTTP protocol rather than ClickHouse settings.
TRANSPORT_PARAMS = {
    "query",
    "database",
    "default_format",
    "query_id",
    "session_id",
    "session_timeout",
    "session_check",
    "compress",
    "decompress",
    "user",
    "password",
    "quota_key",
    "wait_end_of_query",
    "buffer_size",
    "enable_http_compression",
    "http_headers_progress_interval_ms",
    "send_progress_in_http_headers",
    "cancel_http_readonly_queries_on_client_close",
    "client_protocol_version",
    "readonly",
}


def build_query_app(client_factory: Callable[[], Any], auth: TokenAuth, max_body_bytes: int = 1024 * 1024) -> Starlette:
    local = threading.local()

    def client() -> Any:
        if getattr(local, "client", None) is None:
            local.client = client_factory()
        return local.client

    def run(sql: str, database: str | None, settings: dict[str, str], fmt: str | None) -> bytes:
        c = client()
        if database:
            c.database = database
        return c.raw_query(sql, settings=settings, fmt=fmt)

    async def handle(request: Request) -> Response:
        if auth.enabled:
            header = request.headers.get("authorization")
            if header is None and request.query_params.get("password"):
                header = f"Bearer {request.query_params['password']}"
            if auth.check(header) is None:
                return _error(516, "Authentication failed: missing or invalid bearer token", 401)
        body = await request.body()
        if len(body) > max_body_bytes:
            return _error(0, "query too large", 413)
        params = request.query_params
        sql = params.get("query", "")
        if body:
            sql = f"{sql}\n{body.decode('utf-8', errors='replace')}" if sql else body.decode("utf-8", errors="replace")
        if not sql.strip():
            return Response(b"Ok.\n", media_type="text/plain")  # ClickHouse's answer to a bare ping
        settings = {k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")}
        settings["readonly"] = "2"
        fmt = params.get("default_format")
        try:
            data = await asyncio.to_thread(run, sql, params.get("database"), settings, fmt)
        except Exception as exc:
            text = str(exc)
            code = _error_code(text)
            status = 403 if code == 164 else 400 if code in (62, 47, 60, 81, 36, 46) else 500
            return _error(code, text, status)
        return Response(
            data, media_type="application/octet-stream", headers={"X-ClickHouse-Summary": '{"read_rows":"0"}'}
        )

    async def ping(request: Request) -> Response:
        return Response(b"Ok.\n", media_type="text/plain")

    return Starlette(routes=[Route("/", handle, methods=["GET", "POST"]), Route("/ping", ping, methods=["GET"])])


def _error_code(text: str) -> int:
    if "Code: " in text:
        digits = text.split("Code: ", 1)[1].split(".", 1)[0]
        if digits.isdigit():
            return int(digits)
    return 0


def _error(code: int, message: str, status: int) -> Response:
    return Response(
        f"Code: {code}. DB::Exception: {message}\n".encode() if not message.startswith("Code:") else message.encode(),
        status_code=status,
        media_type="text/plain",
        headers={"X-ClickHouse-Exception-Code": str(code)},
    )
