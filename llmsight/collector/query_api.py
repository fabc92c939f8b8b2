"""A read-only, ClickHouse-compatible HTTP endpoint over the collector's store.

An embedded chDB store is locked by the process that opens it, so while ``llmsight serve``
runs, other processes (the CLI, Grafana, a notebook with clickhouse-connect) read through
this endpoint instead. It speaks enough of ClickHouse's HTTP interface for clickhouse-connect
and other HTTP clients: the query from the ``query`` parameter and/or the body, the result in
the format the query asks for.

It is an attack surface, so it does exactly that and no more:
- one read-only statement over llmsight's tables, checked by the engine's parser (query_guard);
- on a session fixed at ``readonly=1`` with time, memory, result and thread limits that a
  caller cannot raise (URL settings are ignored, SETTINGS clauses refused);
- a bounded number of queries at once, and a query whose client goes away is killed;
- with ingest tokens configured, an operator's token (not a tenant-bound one, which would see
  every tenant's rows) in the Authorization header, never in the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmsight.collector.auth import TokenAuth
from llmsight.collector.query_guard import Policy, QueryRefused, checked_query
from llmsight.store.client import StoreUnavailableError

# ClickHouse error code -> HTTP status, as ClickHouse's own HTTP interface answers them.
CLIENT_ERRORS = {6, 27, 36, 41, 42, 43, 44, 46, 47, 53, 62, 73, 80, 159, 158, 184, 215, 241, 352, 386, 394, 396}
NOT_FOUND = {16, 60, 81}
FORBIDDEN = {164, 452, 497}
UNAVAILABLE = {209, 210, 279, 999, 1000}


@dataclass(frozen=True)
class QueryLimits:
    """Per-query limits, applied to the endpoint's session before ``readonly=1`` locks them."""

    max_seconds: float = 30.0
    max_memory_bytes: int = 1 << 30
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 256 << 20
    max_threads: int = 2
    max_concurrent: int = 4
    max_query_bytes: int = 1 << 20

    def settings(self, database: str) -> dict[str, str]:
        """Session settings; ``readonly`` last, since once it is set no other setting may change.

        The schema tables list ``database`` only: other databases' names and DDL are not the caller's.
        """
        own = f"\\'{database}\\'"
        filters = f"{{'system.tables': 'database = {own}', 'system.columns': 'database = {own}', " \
                  f"'system.databases': 'name = {own}'}}"  # fmt: skip
        return {
            "additional_table_filters": filters,
            "max_execution_time": str(self.max_seconds),
            "timeout_overflow_mode": "throw",
            "max_memory_usage": str(self.max_memory_bytes),
            "max_result_rows": str(self.max_result_rows),
            "max_result_bytes": str(self.max_result_bytes),
            "result_overflow_mode": "throw",
            "max_threads": str(self.max_threads),
            "cancel_http_readonly_queries_on_client_close": "1",
            "readonly": "1",
        }


def build_query_app(
    client_factory: Callable[[], Any], auth: TokenAuth, database: str, limits: QueryLimits | None = None
) -> Starlette:
    """``client_factory`` opens a client on ``database`` with ``limits.settings(database)`` as its session settings."""
    limits = limits or QueryLimits()
    policy = Policy(database)
    local = threading.local()
    slots = asyncio.Semaphore(limits.max_concurrent)

    def client() -> Any:
        if getattr(local, "client", None) is None:
            local.client = client_factory()
        return local.client

    def run(sql: str, marker: str, fmt: str | None, parameters: dict[str, Any]) -> bytes:
        try:
            text = checked_query(client(), sql, policy, parameters)
            return client().raw_query(f"/* {marker} */ {text}", parameters=parameters or None, fmt=fmt)
        except QueryRefused:
            raise
        except Exception:
            # A query stopped by a limit or a kill can leave the connection mid-stream, and the
            # next query on it would read the rest: start the next one on a fresh client.
            with contextlib.suppress(Exception):
                local.client.close()
            local.client = None
            raise

    def kill(marker: str) -> None:
        with contextlib.suppress(Exception):
            client().raw_query(
                f"KILL QUERY WHERE position(query, '/* {marker} */') = 1 AND query_id != queryID() ASYNC"
            )

    async def handle(request: Request) -> Response:
        params = request.query_params
        if "password" in params or "user" in params:
            return _error(
                516, "tokens in URLs are refused (URLs end up in logs): send Authorization: Bearer TOKEN", 401
            )
        if auth.enabled:
            header = request.headers.get("authorization")
            if header is None and request.headers.get("x-clickhouse-key"):
                header = f"Bearer {request.headers['x-clickhouse-key']}"
            principal = auth.check_basic_or_bearer(header)
            if principal is None:
                return _error(516, "Authentication failed: missing or invalid token", 401)
            if principal.bound:
                return _error(497, "a tenant-bound token cannot use the query endpoint (it reads every tenant)", 403)
        if params.get("database", database) != database:
            return _error(81, f"only database {database} is readable here", 404)
        fmt = params.get("default_format") or None
        if fmt is not None and not fmt.isidentifier():
            return _error(73, f"unknown format {fmt!r}", 400)
        try:
            body = await _read_body(request, limits.max_query_bytes)
        except ValueError as exc:
            return _error(0, str(exc), 413)
        sql = params.get("query", "")
        if body:
            sql = f"{sql}\n{body.decode('utf-8', errors='replace')}" if sql else body.decode("utf-8", errors="replace")
        if not sql.strip():
            return Response(b"Ok.\n", media_type="text/plain")  # ClickHouse's answer to a bare ping
        # Query parameters ({name:Type} in the text) are values, bound by the engine: safe to pass on,
        # as the text the client sent (already in ClickHouse's escaped form, so not formatted again).
        parameters = {k.removeprefix("param_"): BoundText(v) for k, v in params.items() if k.startswith("param_")}
        unbound = [name for name in sorted(parameters) if not re.search(r"\{\s*" + re.escape(name) + r"\s*:", sql)]
        if unbound:  # only {name:Type} binding: a value is never pasted into the text that the guard checked
            return _error(456, f"parameter(s) {', '.join(unbound)} have no {{name:Type}} placeholder", 400)
        try:
            await asyncio.wait_for(slots.acquire(), timeout=limits.max_seconds)
        except asyncio.TimeoutError:
            return _error(202, "too many queries at once; retry later", 429)
        marker = f"llmsight-query {uuid.uuid4().hex}"
        try:
            data = await _until_disconnect(
                request, asyncio.to_thread(run, sql, marker, fmt, parameters), lambda: kill(marker)
            )
        except QueryRefused as exc:
            return _error(497, str(exc), 403)
        except StoreUnavailableError as exc:
            return _error(210, str(exc), 503)
        except Exception as exc:
            text = str(exc)
            return _error(*_status(text))
        finally:
            slots.release()
        if data is None:
            return Response(b"", status_code=499)  # the client has gone; nobody reads this
        return Response(
            data, media_type="application/octet-stream", headers={"X-ClickHouse-Summary": '{"read_rows":"0"}'}
        )

    async def ping(request: Request) -> Response:
        return Response(b"Ok.\n", media_type="text/plain")

    return Starlette(routes=[Route("/", handle, methods=["GET", "POST"]), Route("/ping", ping, methods=["GET"])])


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes before it is all in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ValueError(f"query of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ValueError(f"query exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _until_disconnect(request: Request, work: Any, on_disconnect: Callable[[], None]) -> bytes | None:
    """Await ``work``; if the client disconnects first, call ``on_disconnect`` and return None."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.25)
        if done:
            return task.result()
        if await request.is_disconnected():
            await asyncio.to_thread(on_disconnect)
            with contextlib.suppress(Exception):
                await task
            return None


def _code(text: str) -> int:
    if "Code: " in text:
        digits = text.split("Code: ", 1)[1].split(".", 1)[0]
        if digits.isdigit():
            return int(digits)
    return 0


def _status(text: str) -> tuple[int, str, int]:
    """(code, message, HTTP status) for an engine or connection error."""
    code = _code(text)
    if code in FORBIDDEN:
        return code, text, 403
    if code in NOT_FOUND:
        return code, text, 404
    if code in CLIENT_ERRORS:
        return code, text, 400
    if code in UNAVAILABLE or code == 0:  # no ClickHouse code: the connection itself failed
        return code, text if code else f"store unavailable: {text.splitlines()[0] if text else 'no answer'}", 503
    return code, text, 500


class BoundText:
    """A query parameter's value as the HTTP client sent it: clickhouse-connect formats an object it
    does not know with ``str()``, so the engine receives the text unchanged (formatting a ``str`` again
    would escape it twice: an ``Array(String)`` would not parse, a quote would match nothing)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _error(code: int, message: str, status: int) -> Response:
    return Response(
        f"Code: {code}. DB::Exception: {message}\n".encode() if not message.startswith("Code:") else message.encode(),
        status_code=status,
        media_type="text/plain",
        headers={"X-ClickHouse-Exception-Code": str(code)},
    )
