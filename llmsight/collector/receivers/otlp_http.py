"""OTLP/HTTP receiver (port 4318): ``POST /v1/traces``, ``/v1/logs``, ``/v1/metrics``.

Follows the OTLP/HTTP spec: protobuf or JSON bodies, optional gzip, responses in the
request's encoding with ``partial_success`` when some records were invalid, errors as a
``google.rpc.Status``. Bad input gets 400/413/415, never a 5xx; a full queue gets 429 and
a full spool (ClickHouse down for long) 503, both with Retry-After so SDKs retry. With
``cors_allowed_origins``, web pages of those origins may post too (``receivers/cors.py``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from llmsight.collector import otlp
from llmsight.collector.auth import ExperimentsNotAllowed, TokenAuth
from llmsight.collector.pipeline import Admission, IngestResult, Pipeline, QueueFull, SpoolFull
from llmsight.collector.receivers.cors import cors_middleware

PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf")
JSON_TYPE = "application/json"
GRPC_CODES = {400: 3, 401: 16, 413: 8, 415: 3, 429: 8, 503: 14}  # HTTP status -> google.rpc.Code
INFLATE_STEP = 1 << 20


class HTTPError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _encoding(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in PROTOBUF_TYPES:
        return "protobuf"
    if content_type == JSON_TYPE:
        return "json"
    return None


async def read_body(request: Request, limit: int, admission: Admission) -> bytes:
    """The request body, decompressed, refusing more than ``limit`` bytes at any stage.

    ``admission`` starts with the declared Content-Length; bytes beyond it (chunked bodies declare
    none) and the decompressed body are charged as they arrive, so QueueFull (429) comes before a
    flood of bodies is buffered, whatever their framing.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    charged = admission.nbytes
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body exceeds the limit of {limit} bytes")
        if size > charged:
            admission.grow(size - charged)
            charged = size
        chunks.append(chunk)
    body = b"".join(chunks)
    del chunks
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "deflate"):
        return _inflate(body, limit, encoding == "gzip", admission)
    raise HTTPError(415, f"unsupported Content-Encoding {encoding!r}: use gzip or none")


def _inflate(body: bytes, limit: int, gzip: bool, admission: Admission) -> bytes:
    """Decompress at most ``limit + 1`` bytes, charging ``admission`` per step, so a gzip bomb costs
    no more memory than the limit and a flood of them no more than the in-flight bound."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    parts: list[bytes] = []
    size = 0
    data = body
    try:
        while not inflater.eof and size <= limit:
            part = inflater.decompress(data, min(INFLATE_STEP, limit + 1 - size))
            data = inflater.unconsumed_tail
            if not part and not data:
                break  # input used up before the end of the stream
            size += len(part)
            admission.grow(len(part))
            parts.append(part)
    except zlib.error as exc:
        raise HTTPError(400, f"invalid compressed body: {exc}") from None
    if size > limit:
        raise HTTPError(413, f"decompressed body exceeds the limit of {limit} bytes")
    if not inflater.eof:
        raise HTTPError(400, "invalid compressed body: truncated")
    return b"".join(parts)


def _status_body(status: int, message: str, encoding: str | None) -> tuple[bytes, str]:
    st = status_pb2.Status(code=GRPC_CODES.get(status, 2), message=message)
    if encoding == "protobuf":
        return st.SerializeToString(), PROTOBUF_TYPES[0]
    return json_format.MessageToJson(st, indent=None).encode(), JSON_TYPE


def _success_body(response: Any, encoding: str) -> Response:
    if encoding == "protobuf":
        return Response(response.SerializeToString(), media_type=PROTOBUF_TYPES[0])
    return Response(json_format.MessageToJson(response, indent=None).encode(), media_type=JSON_TYPE)


def build_http_app(
    pipeline: Pipeline,
    auth: TokenAuth,
    max_body_bytes: int,
    metrics_text: Callable[[], str],
    health: Callable[[], dict[str, Any]] = lambda: {"status": "ok"},
    cors_allowed_origins: list[str] | None = None,
) -> Starlette:
    telemetry = pipeline.telemetry

    def endpoint(signal: str, make_response: Callable[[IngestResult], Any]):
        async def handle(request: Request) -> Response:
            encoding = _encoding(request)
            try:
                principal = auth.check(request.headers.get("authorization"))
                if principal is None:
                    raise HTTPError(401, "missing or invalid bearer token")
                if encoding is None:
                    raise HTTPError(415, "unsupported Content-Type: use application/x-protobuf or application/json")
                declared = request.headers.get("content-length", "")
                try:
                    with pipeline.admit(int(declared) if declared.isdigit() else 0) as admission:
                        body = await read_body(request, max_body_bytes, admission)
                        result = await pipeline.ingest(signal, body, encoding, principal, admission)
                except QueueFull:
                    raise HTTPError(429, "collector is busy, retry later", retry_after=1) from None
                except otlp.OTLPDecodeError as exc:
                    raise HTTPError(400, str(exc)) from None
                except ExperimentsNotAllowed as exc:
                    raise HTTPError(403, str(exc)) from None
                except SpoolFull:
                    raise HTTPError(
                        503, "spool full: storage is behind or unavailable, retry later", retry_after=2
                    ) from None
                except OSError as exc:
                    raise HTTPError(503, f"cannot write the spool: {exc.strerror or exc}", retry_after=5) from None
                return _success_body(make_response(result), encoding)
            except ClientDisconnect:
                # the sender went away (or was cut off by the receive timeouts): nothing to answer
                telemetry.add("llmsight_rejected_requests_total")
                return Response(status_code=400)
            except HTTPError as err:
                telemetry.add("llmsight_rejected_requests_total")
                if err.retry_after:
                    telemetry.add("llmsight_throttled_requests_total")
                content, media_type = _status_body(err.status, err.message, encoding)
                headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
                return Response(content, status_code=err.status, media_type=media_type, headers=headers)

        return handle

    traces = endpoint("traces", lambda r: r.fill(ExportTraceServiceResponse(), "rejected_spans"))
    logs = endpoint("logs", lambda r: r.fill(ExportLogsServiceResponse(), "rejected_log_records"))
    metrics = endpoint("metrics", lambda r: ExportMetricsServiceResponse())

    def authenticated(request: Request) -> bool:
        return not auth.enabled or auth.check(request.headers.get("authorization")) is not None

    async def healthz(request: Request) -> Response:
        # 200 while degraded: the collector still accepts data (into the spool). The detail (an
        # error from the store, which may name its host) only for a caller with a token.
        state = health()
        return Response(
            json.dumps(state if authenticated(request) else {"status": state["status"]}), media_type=JSON_TYPE
        )

    async def prometheus(request: Request) -> Response:
        # Counters tell volume and failures; with tokens configured, a scraper sends one too.
        if not authenticated(request):
            return PlainTextResponse("missing or invalid bearer token\n", status_code=401)
        return PlainTextResponse(metrics_text(), media_type="text/plain; version=0.0.4")

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/v1/metrics", metrics, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        middleware=cors_middleware(cors_allowed_origins or []),
    )
