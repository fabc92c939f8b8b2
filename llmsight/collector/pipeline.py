"""The pipeline receivers feed: validate -> spool; the exporter decodes, processes and inserts.

Both receivers call the same ``ingest_*`` methods, so HTTP and gRPC behave the same way:
invalid records are dropped, counted and reported; valid ones are durable on disk before the
call returns. The receiver side only validates ids and timestamps (cheap), so acknowledging
is fast; the full decode into rows, redaction and the insert happen once, in the exporter.
Memory is bounded by ``max_inflight_bytes`` of requests being handled at once (beyond it:
QueueFull, answered 429); disk by the spool's cap (SpoolFull, answered 503).
"""

from __future__ import annotations

import marshal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector.auth import Principal
from llmsight.collector.otlp import Rows, count_metric_points, log_rows, span_rows, validate_logs, validate_spans
from llmsight.collector.spool import Spool, SpoolFull
from llmsight.collector.telemetry import Telemetry

Processor = Callable[[str, Rows], None]

TABLES = {"traces": "otel_traces", "logs": "otel_logs"}


class QueueFull(Exception):
    """Too much is being received at once; the sender should retry shortly (429)."""


@dataclass
class IngestResult:
    accepted: int
    rejected: int
    error_message: str = ""

    def fill(self, response: Any, rejected_field: str) -> Any:
        """Set an OTLP Export*ServiceResponse's ``partial_success`` when records were rejected."""
        if self.rejected:
            setattr(response.partial_success, rejected_field, self.rejected)
            response.partial_success.error_message = self.error_message
        return response


class Pipeline:
    def __init__(self, spool: Spool, telemetry: Telemetry, max_inflight_bytes: int = 1 << 28) -> None:
        self.spool = spool
        self.telemetry = telemetry
        self.max_inflight_bytes = max_inflight_bytes
        self.inflight_bytes = 0

    async def ingest_traces(
        self, request: ExportTraceServiceRequest, raw: bytes | None, principal: Principal
    ) -> IngestResult:
        """``raw`` is the request's protobuf encoding when the sender used protobuf (saves re-encoding).

        Callers hold an ``admit()`` for the request while they read, parse and ingest it."""
        kept, rejected, errors = validate_spans(request)
        self.telemetry.add("llmsight_received_spans_total", kept + rejected)
        return await self._spool("traces", request, None if rejected else raw, kept, rejected, errors, principal)

    async def ingest_logs(
        self, request: ExportLogsServiceRequest, raw: bytes | None, principal: Principal
    ) -> IngestResult:
        kept, rejected, errors = validate_logs(request)
        self.telemetry.add("llmsight_received_log_records_total", kept + rejected)
        return await self._spool("logs", request, None if rejected else raw, kept, rejected, errors, principal)

    async def ingest_metrics(self, request: object) -> IngestResult:
        points = count_metric_points(request)  # type: ignore[arg-type]
        self.telemetry.add("llmsight_received_metric_points_total", points)
        return IngestResult(accepted=points, rejected=0)

    def admit(self, nbytes: int) -> _Admission:
        """Count a request as in flight from before its body is read until it is spooled.

        Raises QueueFull when that would pass ``max_inflight_bytes``; one request larger than the
        whole bound is still admitted when nothing else is in flight.
        """
        if self.inflight_bytes and self.inflight_bytes + nbytes > self.max_inflight_bytes:
            raise QueueFull("too much data in flight")
        return _Admission(self, nbytes)

    async def _spool(
        self,
        kind: str,
        request: Any,
        raw: bytes | None,
        kept: int,
        rejected: int,
        errors: list[str],
        principal: Principal,
    ) -> IngestResult:
        if rejected:
            self.telemetry.add("llmsight_rejected_spans_total", rejected)
        if kept:
            body = raw if raw is not None else request.SerializeToString()
            # raises SpoolFull / OSError: then nothing is acknowledged
            await self.spool.append(marshal.dumps((kind, body, principal.resource_overrides())))
        return IngestResult(kept, rejected, "; ".join(errors))


def decode_record(payload: bytes) -> tuple[str, Rows]:
    """A spooled record -> (table, rows); the exporter's half of the pipeline."""
    kind, body, overrides = marshal.loads(payload)
    if kind == "traces":
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        return TABLES[kind], span_rows(request, overrides)
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    return TABLES[kind], log_rows(request, overrides)


class _Admission:
    def __init__(self, pipeline: Pipeline, nbytes: int) -> None:
        self.pipeline, self.nbytes = pipeline, nbytes

    def __enter__(self) -> _Admission:
        self.pipeline.inflight_bytes += self.nbytes
        return self

    def resize(self, nbytes: int) -> None:
        """The real size, once the body is read and decompressed."""
        self.pipeline.inflight_bytes += nbytes - self.nbytes
        self.nbytes = nbytes

    def __exit__(self, *exc: object) -> None:
        self.pipeline.inflight_bytes -= self.nbytes


__all__ = ["IngestResult", "Pipeline", "Processor", "QueueFull", "SpoolFull", "decode_record"]
