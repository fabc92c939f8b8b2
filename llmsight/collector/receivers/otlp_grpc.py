"""OTLP/gRPC receiver (port 4317): the collector's trace, logs and metrics services.

Same pipeline as HTTP. Status codes follow the OTLP spec: INVALID_ARGUMENT is not retried,
RESOURCE_EXHAUSTED and UNAVAILABLE are, UNAUTHENTICATED without a valid bearer token.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llmsight.collector import otlp
from llmsight.collector.auth import Principal, TokenAuth
from llmsight.collector.pipeline import Pipeline, QueueFull, SpoolFull


async def _principal(auth: TokenAuth, context: grpc.aio.ServicerContext) -> Principal:
    metadata = dict(context.invocation_metadata() or ())
    principal = auth.check(metadata.get("authorization"))
    if principal is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
    return principal  # type: ignore[return-value]


async def _run(pipeline: Pipeline, context: grpc.aio.ServicerContext, nbytes: int, ingest: Any) -> Any:
    """Run ``ingest()`` while the request counts as in flight, mapping refusals to OTLP's gRPC codes."""
    try:
        with pipeline.admit(nbytes):
            return await ingest()
    except QueueFull:
        pipeline.telemetry.add("llmsight_throttled_requests_total")
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "collector is busy, retry later")
    except (SpoolFull, OSError):
        pipeline.telemetry.add("llmsight_throttled_requests_total")
        await context.abort(grpc.StatusCode.UNAVAILABLE, "spool full: storage is behind or unavailable, retry later")


class OTLPServices:
    """The Export methods. Requests arrive as raw bytes and are parsed here, so a corrupt message
    is answered INVALID_ARGUMENT (as OTLP asks) rather than the framework's UNKNOWN."""

    def __init__(self, pipeline: Pipeline, auth: TokenAuth) -> None:
        self.pipeline, self.auth = pipeline, auth

    async def _parse(self, parse: Any, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return parse(body, "protobuf")
        except otlp.OTLPDecodeError as exc:
            self.pipeline.telemetry.add("llmsight_rejected_requests_total")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    async def _export(self, body: bytes, context: Any, parse: Any, ingest: Any, response: Any, field: str) -> Any:
        principal = await _principal(self.auth, context)
        request = await self._parse(parse, body, context)
        result = await _run(self.pipeline, context, len(body), lambda: ingest(request, body, principal))
        return result.fill(response, field)

    async def export_traces(self, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await self._export(
            body, context, otlp.parse_traces, self.pipeline.ingest_traces,
            trace_service_pb2.ExportTraceServiceResponse(), "rejected_spans",
        )  # fmt: skip

    async def export_logs(self, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        return await self._export(
            body, context, otlp.parse_logs, self.pipeline.ingest_logs,
            logs_service_pb2.ExportLogsServiceResponse(), "rejected_log_records",
        )  # fmt: skip

    async def export_metrics(self, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        await _principal(self.auth, context)
        request = await self._parse(otlp.parse_metrics, body, context)
        await self.pipeline.ingest_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        def service(name: str, method: Any) -> grpc.GenericRpcHandler:
            handler = grpc.unary_unary_rpc_method_handler(
                method, request_deserializer=None, response_serializer=lambda message: message.SerializeToString()
            )
            return grpc.method_handlers_generic_handler(name, {"Export": handler})

        return [
            service("opentelemetry.proto.collector.trace.v1.TraceService", self.export_traces),
            service("opentelemetry.proto.collector.logs.v1.LogsService", self.export_logs),
            service("opentelemetry.proto.collector.metrics.v1.MetricsService", self.export_metrics),
        ]


def build_grpc_server(
    pipeline: Pipeline,
    auth: TokenAuth,
    address: str,
    max_message_bytes: int,
    credentials: grpc.ServerCredentials | None = None,
) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
    )
    server.add_generic_rpc_handlers(OTLPServices(pipeline, auth).handlers())
    if credentials is not None:
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    return server
