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
from llmsight.collector.pipeline import IngestResult, Pipeline, QueueFull, SpoolFull


async def _principal(auth: TokenAuth, context: grpc.aio.ServicerContext) -> Principal:
    metadata = dict(context.invocation_metadata() or ())
    principal = auth.check(metadata.get("authorization"))
    if principal is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
    return principal  # type: ignore[return-value]


class OTLPServices:
    """The Export methods. Requests arrive as raw bytes and are handed to the pipeline like HTTP bodies,
    so a corrupt message is answered INVALID_ARGUMENT (as OTLP asks) rather than the framework's UNKNOWN."""

    def __init__(self, pipeline: Pipeline, auth: TokenAuth) -> None:
        self.pipeline, self.auth = pipeline, auth

    async def _export(self, signal: str, body: bytes, context: grpc.aio.ServicerContext) -> IngestResult:
        principal = await _principal(self.auth, context)
        telemetry = self.pipeline.telemetry
        try:
            with self.pipeline.admit(len(body)) as admission:
                return await self.pipeline.ingest(signal, body, "protobuf", principal, admission)
        except otlp.OTLPDecodeError as exc:
            telemetry.add("llmsight_rejected_requests_total")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except QueueFull:
            telemetry.add("llmsight_rejected_requests_total")
            telemetry.add("llmsight_throttled_requests_total")
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "collector is busy, retry later")
        except (SpoolFull, OSError):
            telemetry.add("llmsight_rejected_requests_total")
            telemetry.add("llmsight_throttled_requests_total")
            await context.abort(grpc.StatusCode.UNAVAILABLE, "spool full: storage is behind or unavailable, retry")
        raise AssertionError("unreachable: context.abort raises")

    async def export_traces(self, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        result = await self._export("traces", body, context)
        return result.fill(trace_service_pb2.ExportTraceServiceResponse(), "rejected_spans")

    async def export_logs(self, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        result = await self._export("logs", body, context)
        return result.fill(logs_service_pb2.ExportLogsServiceResponse(), "rejected_log_records")

    async def export_metrics(self, body: bytes, context: grpc.aio.ServicerContext) -> Any:
        await self._export("metrics", body, context)
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
    max_concurrent_rpcs: int = 0,
) -> grpc.aio.Server:
    """``max_concurrent_rpcs`` (0: derived) bounds what gRPC reads before the pipeline can refuse it.

    The C core reads a whole message before the handler (and admission) runs, so the in-flight bound
    alone does not bound memory; calls past this many are answered RESOURCE_EXHAUSTED at once.
    Derived, it lets the largest messages in flight fill the in-flight bound once:
    ``max(4, max_inflight_bytes // max_message_bytes)``.
    """
    if max_concurrent_rpcs <= 0:
        max_concurrent_rpcs = max(4, pipeline.max_inflight_bytes // max(max_message_bytes, 1))
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers(OTLPServices(pipeline, auth).handlers())
    if credentials is not None:
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    return server
