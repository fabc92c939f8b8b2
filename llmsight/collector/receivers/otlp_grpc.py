"""OTLP/gRPC receiver (port 4317): the collector's trace, logs and metrics services.

Same pipeline as HTTP. Status codes follow the OTLP spec: INVALID_ARGUMENT is not retried,
RESOURCE_EXHAUSTED and UNAVAILABLE are, UNAUTHENTICATED without a valid bearer token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llmsight.collector import otlp
from llmsight.collector.auth import ExperimentsNotAllowed, Principal, TokenAuth
from llmsight.collector.pipeline import IngestResult, Pipeline, QueueFull, SpoolFull


async def _principal(auth: TokenAuth, context: grpc.aio.ServicerContext) -> Principal:
    metadata = dict(context.invocation_metadata() or ())
    principal = auth.check(metadata.get("authorization"))
    if principal is None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
    return principal  # type: ignore[return-value]


READ_TIMEOUT_S = 30.0  # longest a call may hold its reservation while its message arrives


class OTLPServices:
    """The Export methods. Requests arrive as raw bytes and are handed to the pipeline like HTTP bodies,
    so a corrupt message is answered INVALID_ARGUMENT (as OTLP asks) rather than the framework's UNKNOWN.

    The methods are registered as client-streaming (the wire format is the same for a unary caller) so
    the handler runs before the message is read: gRPC declares no size, and once a message is asked for
    the C core opens the stream's window to all of it. So each call first reserves the largest message
    (``max_message_bytes``) in the in-flight bound, is refused RESOURCE_EXHAUSTED at once when that does
    not fit (as HTTP answers 429), and only then reads; the reservation is settled to the real size.
    """

    def __init__(self, pipeline: Pipeline, auth: TokenAuth, max_message_bytes: int) -> None:
        self.pipeline, self.auth, self.max_message_bytes = pipeline, auth, max_message_bytes

    async def _export(
        self, signal: str, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> IngestResult:
        principal = await _principal(self.auth, context)
        telemetry = self.pipeline.telemetry
        try:
            with self.pipeline.admit(self.max_message_bytes) as admission:
                try:
                    body = await asyncio.wait_for(anext(requests), READ_TIMEOUT_S)
                except StopAsyncIteration:
                    raise otlp.OTLPDecodeError("no request message") from None
                admission.settle(len(body))
                return await self.pipeline.ingest(signal, body, "protobuf", principal, admission)
        except otlp.OTLPDecodeError as exc:
            telemetry.add("llmsight_rejected_requests_total")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ExperimentsNotAllowed as exc:
            telemetry.add("llmsight_rejected_requests_total")
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except QueueFull:
            telemetry.add("llmsight_rejected_requests_total")
            telemetry.add("llmsight_throttled_requests_total")
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "collector is busy, retry later")
        except TimeoutError:  # before OSError, its base class
            telemetry.add("llmsight_rejected_requests_total")
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"message not received within {READ_TIMEOUT_S:.0f} s"
            )
        except (SpoolFull, OSError):
            telemetry.add("llmsight_rejected_requests_total")
            telemetry.add("llmsight_throttled_requests_total")
            await context.abort(grpc.StatusCode.UNAVAILABLE, "spool full: storage is behind or unavailable, retry")
        raise AssertionError("unreachable: context.abort raises")

    async def export_traces(self, body: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        result = await self._export("traces", body, context)
        return result.fill(trace_service_pb2.ExportTraceServiceResponse(), "rejected_spans")

    async def export_logs(self, body: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        result = await self._export("logs", body, context)
        return result.fill(logs_service_pb2.ExportLogsServiceResponse(), "rejected_log_records")

    async def export_metrics(self, body: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        await self._export("metrics", body, context)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        def service(name: str, method: Any) -> grpc.GenericRpcHandler:
            handler = grpc.stream_unary_rpc_method_handler(
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
    """``max_concurrent_rpcs``: calls handled at once, more are answered RESOURCE_EXHAUSTED (0: no limit).

    Memory does not need it: each call reserves its largest message in the in-flight bound before
    reading it (see OTLPServices), and BDP probing is off so a call not read yet (or refused unread)
    is held to the default 64 KiB stream window; with probing on, 16 unread 48 MiB calls held for
    0.5 s cost 130-260 MiB of the core's buffers, without it 2 MiB (bench/receiver_limits.py). A read
    still opens the window to the whole message, so large messages are not slowed by the small window.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.http2.bdp_probe", 0),
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs if max_concurrent_rpcs > 0 else None,
    )
    server.add_generic_rpc_handlers(OTLPServices(pipeline, auth, max_message_bytes).handlers())
    if credentials is not None:
        server.add_secure_port(address, credentials)
    else:
        server.add_insecure_port(address)
    return server
