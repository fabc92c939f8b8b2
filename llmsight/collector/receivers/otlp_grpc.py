"""OTLP/gRPC receiver (port 4317): the collector's trace, logs and metrics services.

Same pipeline as HTTP. Status codes follow the OTLP spec: INVALID_ARGUMENT is not retried,
RESOURCE_EXHAUSTED and UNAVAILABLE are, UNAUTHENTICATED without a valid bearer token.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from llmsight.collector.auth import Principal, TokenAuth
from llmsight.collector.pipeline import Pipeline, QueueFull, SpoolFull


async def _principal(auth: TokenAuth, context: grpc.aio.ServicerContext) -> Principal:
    metadata = dict(context.invocation_metadata() or ())
    principal = auth.check(metadata.get("authorization"))
    if principal is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
    return principal  # type: ignore[return-value]


async def _run(pipeline: Pipeline, context: grpc.aio.ServicerContext, coro: Any) -> Any:
    try:
        return await coro
    except QueueFull:
        pipeline.telemetry.add("llmsight_throttled_requests_total")
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "collector is busy, retry later")
    except (SpoolFull, OSError):
        pipeline.telemetry.add("llmsight_throttled_requests_total")
        await context.abort(grpc.StatusCode.UNAVAILABLE, "spool full: storage is behind or unavailable, retry later")


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, pipeline: Pipeline, auth: TokenAuth) -> None:
        self.pipeline, self.auth = pipeline, auth

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802 (gRPC name)
        principal = await _principal(self.auth, context)
        result = await _run(
            self.pipeline, context, self.pipeline.ingest_traces(request, None, request.ByteSize(), principal)
        )
        response = trace_service_pb2.ExportTraceServiceResponse()
        if result.rejected:
            response.partial_success.rejected_spans = result.rejected
            response.partial_success.error_message = result.error_message
        return response


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, pipeline: Pipeline, auth: TokenAuth) -> None:
        self.pipeline, self.auth = pipeline, auth

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        principal = await _principal(self.auth, context)
        result = await _run(
            self.pipeline, context, self.pipeline.ingest_logs(request, None, request.ByteSize(), principal)
        )
        response = logs_service_pb2.ExportLogsServiceResponse()
        if result.rejected:
            response.partial_success.rejected_log_records = result.rejected
            response.partial_success.error_message = result.error_message
        return response


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, pipeline: Pipeline, auth: TokenAuth) -> None:
        self.pipeline, self.auth = pipeline, auth

    async def Export(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        await _principal(self.auth, context)
        await self.pipeline.ingest_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


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
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(pipeline, auth), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(pipeline, auth), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(pipeline, auth), server)
    if credentials is not None:
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    return server
