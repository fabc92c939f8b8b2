"""Parse OTLP export requests (protobuf or JSON) and check them before they are spooled.

Holds the element limits applied while parsing, the checks a span or log record must pass to be
stored, and the tenant resource overrides. A span with an invalid id is rejected on its own; the
rest of its request is kept and the rejection counted for ``partial_success``.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector import otlp_limits

MAX_TIMESTAMP_NS = 4_102_444_800 * 10**9  # 2100-01-01: DateTime64(9) cannot hold much beyond 2262


class OTLPDecodeError(ValueError):
    """The request body is not a valid OTLP message; the text is returned to the sender."""


DEFAULT_MAX_ELEMENTS = 1_000_000


def parse_traces(body: bytes, content_type: str, max_elements: int = DEFAULT_MAX_ELEMENTS) -> ExportTraceServiceRequest:
    return _parse(ExportTraceServiceRequest(), "traces", body, content_type, max_elements)


def parse_logs(body: bytes, content_type: str, max_elements: int = DEFAULT_MAX_ELEMENTS) -> ExportLogsServiceRequest:
    return _parse(ExportLogsServiceRequest(), "logs", body, content_type, max_elements)


def parse_metrics(
    body: bytes, content_type: str, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> ExportMetricsServiceRequest:
    return _parse(ExportMetricsServiceRequest(), "metrics", body, content_type, max_elements)


def _parse(message: Any, kind: str, body: bytes, content_type: str, max_elements: int) -> Any:
    """Parse after checking the element count, so one body cannot cost more than ``max_elements`` steps."""
    if content_type == "json":
        try:
            otlp_limits.check_json(body, kind, max_elements)
        except otlp_limits.TooManyElements as exc:
            raise OTLPDecodeError(str(exc)) from None
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OTLPDecodeError(f"invalid JSON: {exc}") from None
        except RecursionError:
            raise OTLPDecodeError("invalid OTLP/JSON: nested too deeply") from None
        if not isinstance(doc, dict):
            raise OTLPDecodeError("invalid OTLP/JSON: the body must be a JSON object")
        try:
            _hex_ids_to_base64(doc)
            json_format.ParseDict(doc, message, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            raise OTLPDecodeError(f"invalid OTLP/JSON: {str(exc)[:300]}") from None
        return message
    try:
        otlp_limits.check_protobuf(body, kind, max_elements)
    except otlp_limits.TooManyElements as exc:
        raise OTLPDecodeError(str(exc)) from None
    except otlp_limits.MalformedBody as exc:
        raise OTLPDecodeError(f"invalid OTLP protobuf: {exc}") from None
    try:
        message.ParseFromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise OTLPDecodeError(f"invalid OTLP protobuf: {str(exc)[:300] or 'cannot parse'}") from None
    return message


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(node: Any, depth: int = 0) -> None:
    """OTLP/JSON writes ids as hex; protobuf's JSON mapping expects base64 for bytes fields."""
    if depth > 64:
        raise OTLPDecodeError("invalid OTLP/JSON: nested too deeply")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode() if value else ""
                except ValueError:
                    raise OTLPDecodeError(f"invalid OTLP/JSON: {key} {value[:40]!r} is not hex") from None
            elif isinstance(value, dict | list):
                _hex_ids_to_base64(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _hex_ids_to_base64(item, depth + 1)


@dataclass(frozen=True)
class Retention:
    """The window a table keeps: records starting before ``min_time_ns`` would only be deleted by its TTL."""

    days: int
    min_time_ns: int

    @classmethod
    def of(cls, days: int) -> Retention:
        return cls(days, time.time_ns() - days * 86_400 * 10**9 if days > 0 else 0)


def span_problem(span: Any, window: Retention) -> str | None:
    """Why a span cannot be stored, or None: it needs a 16-byte trace id, an 8-byte span id, an optional
    8-byte parent, storable times, and a start inside the retention window."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8 or len(span.parent_span_id) not in (0, 8):
        return "invalid trace_id/span_id/parent_span_id length"
    if span.start_time_unix_nano > MAX_TIMESTAMP_NS or span.end_time_unix_nano > MAX_TIMESTAMP_NS:
        return "timestamp beyond the year 2100"
    if span.start_time_unix_nano < window.min_time_ns:
        return f"older than the retention window ({window.days} days) of otel_traces"
    return None


def record_problem(record: Any, window: Retention) -> str | None:
    """Log records may have no ids, but ids that are there must have the right length; the time
    stored (``time_unix_nano``, else ``observed_time_unix_nano``) must be inside the retention window."""
    if len(record.trace_id) not in (0, 16) or len(record.span_id) not in (0, 8):
        return "invalid trace_id/span_id length"
    if max(record.time_unix_nano, record.observed_time_unix_nano) > MAX_TIMESTAMP_NS:
        return "timestamp beyond the year 2100"
    if (record.time_unix_nano or record.observed_time_unix_nano) < window.min_time_ns:
        return f"older than the retention window ({window.days} days) of otel_logs"
    return None


def validate_spans(request: ExportTraceServiceRequest, retention_days: int = 0) -> tuple[int, int, list[str]]:
    """Drop spans that cannot be stored from ``request`` in place: (kept, rejected, messages).

    Cheap (no attribute is touched), so the receiver can answer ``partial_success`` before
    the request is spooled; full decoding happens once, in the exporter, on valid spans only.
    Spans older than ``retention_days`` (0: keep all) would be acknowledged and then deleted by the
    table's TTL, so they are rejected instead.
    """
    groups = (scope.spans for rs in request.resource_spans for scope in rs.scope_spans)
    return _drop_invalid(groups, span_problem, Retention.of(retention_days), lambda span: f"span {span.name[:80]!r}")


def validate_logs(request: ExportLogsServiceRequest, retention_days: int = 0) -> tuple[int, int, list[str]]:
    """Drop log records that cannot be stored from ``request`` in place: (kept, rejected, messages)."""
    groups = (scope.log_records for rl in request.resource_logs for scope in rl.scope_logs)
    return _drop_invalid(groups, record_problem, Retention.of(retention_days), lambda record: "log record")


def _drop_invalid(groups: Any, problem: Any, window: Retention, describe: Any) -> tuple[int, int, list[str]]:
    kept = rejected = 0
    errors: list[str] = []
    for items in groups:
        bad = [i for i, item in enumerate(items) if problem(item, window)]
        for i in reversed(bad):
            if len(errors) < 5:
                errors.append(f"{describe(items[i])}: {problem(items[i], window)}")
            del items[i]
        rejected += len(bad)
        kept += len(items)
    return kept, rejected, errors


def resource_claims(request: Any, key: str) -> bool:
    """Whether a resource of a traces or logs request sets ``key`` to anything but an empty string."""
    groups = request.resource_spans if isinstance(request, ExportTraceServiceRequest) else request.resource_logs
    for group in groups:
        for kv in group.resource.attributes:
            if kv.key == key and not (kv.value.WhichOneof("value") == "string_value" and not kv.value.string_value):
                return True
    return False


def override_resources(request: Any, overrides: dict[str, str]) -> None:
    """Set ``overrides`` (a tenant's resource attributes) on every resource of a traces or logs request.

    Done to the request before it is spooled, so that whichever decoder stores it (SQL or Python)
    reads the tenant's values: a sender cannot claim another tenant's by sending the same keys.
    """
    if not overrides:
        return
    groups = request.resource_spans if isinstance(request, ExportTraceServiceRequest) else request.resource_logs
    for group in groups:
        kept = [kv for kv in group.resource.attributes if kv.key not in overrides]
        del group.resource.attributes[:]
        group.resource.attributes.extend(kept)
        for key, value in overrides.items():
            kv = group.resource.attributes.add()
            kv.key = key
            kv.value.string_value = value


def count_metric_points(request: ExportMetricsServiceRequest) -> int:
    """Metrics are accepted and counted, not stored (yet)."""
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    total += len(getattr(metric, kind).data_points)
    return total
