"""The pipeline receivers feed: count -> parse -> validate -> spool; the exporter decodes, processes and inserts.

Both receivers call the same ``ingest`` method, so HTTP and gRPC behave the same way: a body
with more elements than ``max_elements`` is refused whole (400), records that cannot be stored
(bad ids or times, older than their table's retention) are dropped, counted and reported, valid
ones are durable on disk before the call returns. The CPU part (element count, parse,
validation, the spool record) runs in a small thread pool, never on the event loop, so one
body cannot stall the other requests. The full decode into rows, redaction and the insert
happen once, in the exporter.

Memory is bounded by ``max_inflight_bytes``: a request is charged, from before its body is read
until it is spooled, for what it really holds (see ``request_cost``); beyond the bound: QueueFull,
answered 429. Disk is bounded by the spool's cap (SpoolFull, answered 503).
"""

from __future__ import annotations

import asyncio
import marshal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector import otlp
from llmsight.collector.auth import EXPERIMENTS_ATTRIBUTE, ExperimentsNotAllowed, Principal
from llmsight.collector.otlp import count_metric_points
from llmsight.collector.otlp_rows import Rows, log_rows, span_rows
from llmsight.collector.spool import Spool, SpoolFull
from llmsight.collector.telemetry import Telemetry

Processor = Callable[[str, Rows], None]

TABLES = {"traces": "otel_traces", "logs": "otel_logs"}
DECODE_THREADS = 2  # the GIL makes more pointless for CPU work; two keep one slow body from blocking all


class QueueFull(Exception):
    """Too much is being received at once; the sender should retry shortly (429)."""


def request_cost(body_bytes: int, encoding: str) -> int:
    """Bytes a decoded body holds besides itself while it is handled: the parsed message (upb holds about
    the body's size; json.loads' dicts about three times more) and the spool record (one more copy)."""
    return body_bytes * (2 if encoding == "protobuf" else 5)


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


@dataclass
class _Decoded:
    kept: int
    rejected: int
    errors: list[str]
    record: bytes | None  # what goes to the spool, None when nothing is kept


PARSERS = {"traces": otlp.parse_traces, "logs": otlp.parse_logs, "metrics": otlp.parse_metrics}
VALIDATORS = {"traces": otlp.validate_spans, "logs": otlp.validate_logs}
COUNTERS = {
    "traces": ("llmsight_received_spans_total", "llmsight_rejected_spans_total"),
    "logs": ("llmsight_received_log_records_total", "llmsight_rejected_log_records_total"),
}


class Pipeline:
    def __init__(
        self,
        spool: Spool,
        telemetry: Telemetry,
        max_inflight_bytes: int = 1 << 28,
        max_elements: int = otlp.DEFAULT_MAX_ELEMENTS,
        retention_days: dict[str, int] | None = None,
    ) -> None:
        """``retention_days``: days kept per signal ("traces", "logs"); 0 or missing keeps everything."""
        self.spool = spool
        self.telemetry = telemetry
        self.max_inflight_bytes = max_inflight_bytes
        self.max_elements = max_elements
        self.retention_days = retention_days or {}
        self.inflight_bytes = 0
        self._decoder = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="llmsight-decode")

    async def ingest(
        self, signal: str, body: bytes, encoding: str, principal: Principal, admission: Admission
    ) -> IngestResult:
        """Parse, validate and spool one request ``body`` ("protobuf" or "json") of ``signal``.

        Raises OTLPDecodeError (400) for a body that is not OTLP or has too many elements, QueueFull
        when its decoding would pass the in-flight bound, SpoolFull or OSError when it cannot be
        made durable; then nothing is acknowledged. ``admission`` already counts the body itself.
        """
        admission.grow(request_cost(len(body), encoding))
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        decoded = await loop.run_in_executor(self._decoder, self._decode, signal, body, encoding, principal)
        self.telemetry.add("llmsight_receive_decode_seconds_total", time.perf_counter() - started)
        if signal == "metrics":
            self.telemetry.add("llmsight_received_metric_points_total", decoded.kept)
            return IngestResult(decoded.kept, 0)
        received, rejected = COUNTERS[signal]
        self.telemetry.add(received, decoded.kept + decoded.rejected)
        if decoded.rejected:
            self.telemetry.add(rejected, decoded.rejected)
        if decoded.record is not None:
            await self.spool.append(decoded.record)  # raises SpoolFull / OSError: then nothing is acknowledged
        return IngestResult(decoded.kept, decoded.rejected, "; ".join(decoded.errors))

    def _decode(self, signal: str, body: bytes, encoding: str, principal: Principal) -> _Decoded:
        """The CPU part of ``ingest``, run in a decoder thread."""
        request = PARSERS[signal](body, encoding, self.max_elements)
        if signal == "metrics":
            return _Decoded(count_metric_points(request), 0, [], None)
        if not principal.experiments and otlp.resource_claims(request, EXPERIMENTS_ATTRIBUTE):
            raise ExperimentsNotAllowed("this token may not send experiment data (see LLMSIGHT_EXPERIMENT_TOKENS)")
        kept, rejected, errors = VALIDATORS[signal](request, self.retention_days.get(signal, 0))
        if not kept:
            return _Decoded(kept, rejected, errors, None)
        overrides = principal.resource_overrides()
        otlp.override_resources(request, overrides)
        # protobuf bodies as received, when nothing was changed (saves re-encoding)
        unchanged = encoding == "protobuf" and not rejected and not overrides
        raw = body if unchanged else request.SerializeToString()
        # The overrides are in the request now (records of earlier versions carry them beside it).
        return _Decoded(kept, rejected, errors, marshal.dumps((signal, raw, {}, kept)))

    def admit(self, nbytes: int) -> Admission:
        """Count a request as in flight from before its body is read until it is spooled.

        Raises QueueFull when that would pass ``max_inflight_bytes``; one request larger than the
        whole bound is still admitted when nothing else is in flight.
        """
        if self.inflight_bytes and self.inflight_bytes + nbytes > self.max_inflight_bytes:
            raise QueueFull("too much data in flight")
        return Admission(self, nbytes)

    def close(self) -> None:
        self._decoder.shutdown(wait=False, cancel_futures=True)


@dataclass
class SpooledRecord:
    signal: str  # "traces" or "logs"
    body: bytes  # the OTLP export request, validated
    overrides: dict[str, str]  # resource attributes still to set: records of earlier versions only
    count: int | None  # spans or log records in it; None in records of earlier versions


def load_record(payload: bytes) -> SpooledRecord:
    fields = marshal.loads(payload)
    return SpooledRecord(*fields) if len(fields) == 4 else SpooledRecord(*fields, None)


def decode_record(payload: bytes) -> tuple[str, Rows]:
    """A spooled record -> (table, rows); the exporter's Python decoder."""
    record = load_record(payload)
    return decode_body(record.signal, record.body, record.overrides)


def decode_body(kind: str, body: bytes, overrides: dict[str, str]) -> tuple[str, Rows]:
    if kind == "traces":
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        return TABLES[kind], span_rows(request, overrides)
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    return TABLES[kind], log_rows(request, overrides)


class Admission:
    """One request's share of ``inflight_bytes``; grows as its body streams in and is decoded."""

    def __init__(self, pipeline: Pipeline, nbytes: int) -> None:
        self.pipeline, self.nbytes = pipeline, nbytes

    def __enter__(self) -> Admission:
        self.pipeline.inflight_bytes += self.nbytes
        return self

    def grow(self, nbytes: int) -> None:
        """Charge ``nbytes`` more; QueueFull past the bound unless this is the only request in flight."""
        pipeline = self.pipeline
        if pipeline.inflight_bytes > self.nbytes and pipeline.inflight_bytes + nbytes > pipeline.max_inflight_bytes:
            raise QueueFull("too much data in flight")
        pipeline.inflight_bytes += nbytes
        self.nbytes += nbytes

    def settle(self, nbytes: int) -> None:
        """Replace what is charged by ``nbytes`` (a reservation made before the size was known)."""
        self.pipeline.inflight_bytes += nbytes - self.nbytes
        self.nbytes = nbytes

    def __exit__(self, *exc: object) -> None:
        self.pipeline.inflight_bytes -= self.nbytes


__all__ = [
    "Admission",
    "IngestResult",
    "Pipeline",
    "Processor",
    "QueueFull",
    "SpoolFull",
    "SpooledRecord",
    "decode_body",
    "decode_record",
    "load_record",
]
