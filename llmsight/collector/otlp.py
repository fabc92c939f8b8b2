"""Decode OTLP export requests (protobuf or JSON) into column-oriented rows for ClickHouse.

Values are written the way the OpenTelemetry Collector contrib ClickHouse exporter writes
them, so both collectors produce identical rows: lowercase hex ids, ``Client``/``Server``
span kinds, ``Unset``/``Ok``/``Error`` status codes, attribute values as strings (arrays
and maps as JSON). A span with an invalid id is rejected on its own; the rest of its request
is kept and the rejection counted for ``partial_success``.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector import otlp_limits

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")
SEVERITY_TEXT = (
    "",
    "TRACE",
    "TRACE2",
    "TRACE3",
    "TRACE4",
    "DEBUG",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "INFO",
    "INFO2",
    "INFO3",
    "INFO4",
    "WARN",
    "WARN2",
    "WARN3",
    "WARN4",
    "ERROR",
    "ERROR2",
    "ERROR3",
    "ERROR4",
    "FATAL",
    "FATAL2",
    "FATAL3",
    "FATAL4",
)
MAX_TIMESTAMP_NS = 4_102_444_800 * 10**9  # 2100-01-01: DateTime64(9) cannot hold much beyond 2262

TRACE_COLUMNS = [
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
]
LOG_COLUMNS = [
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceSchemaUrl",
    "ResourceAttributes",
    "ScopeSchemaUrl",
    "ScopeName",
    "ScopeVersion",
    "ScopeAttributes",
    "LogAttributes",
    "EventName",  # the record's event_name: GenAI instrumentations name their content events
]


class OTLPDecodeError(ValueError):
    """The request body is not a valid OTLP message; the text is returned to the sender."""


@dataclass
class Rows:
    """Column-oriented rows for one table: one list per column, in ``columns`` order."""

    columns: list[str]
    data: list[list[Any]]

    @property
    def count(self) -> int:
        return len(self.data[0]) if self.data else 0


def any_value_to_str(value: Any) -> str:
    """An AnyValue as the Map(String, String) columns hold it: scalars as text, arrays and maps as JSON.

    Written exactly as ClickHouse writes them (toString, toJSONString), because the exporter's
    SQL decoder (exporters/otlp_sql.py) renders the same values in SQL and both must store the same rows.
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return format_double(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind is None:
        return ""
    return _json(value)


def _json(value: Any) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return json_string(value.string_value)
    if kind == "array_value":
        return "[" + ",".join(_json(v) for v in value.array_value.values) + "]"
    if kind == "kvlist_value":
        return "{" + ",".join(f"{json_string(kv.key)}:{_json(kv.value)}" for kv in value.kvlist_value.values) + "}"
    if kind == "bytes_value":
        return json_string(base64.b64encode(value.bytes_value).decode())
    if kind is None:
        return "null"
    return any_value_to_str(value)


_JSON_ESCAPES = {code: f"\\u{code:04X}" for code in (*range(0x20), 0x2028, 0x2029)}
_JSON_ESCAPES.update({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"})


def json_string(text: str) -> str:
    """A JSON string as ClickHouse's toJSONString writes it (\\u001F, not \\u001f; U+2028 escaped; / kept)."""
    return '"' + text.translate(_JSON_ESCAPES) + '"'


def format_double(value: float) -> str:
    """A double as ClickHouse's toString writes it: the shortest digits that read back the same, plain
    between 1e-7 and 1e21 (1.0 -> 1, 1e16 -> 10000000000000000, 1.5e-05 -> 0.000015), else 1e21, 1.5e-7."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exp = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exp) if exp else 0)  # value = 0.DIGITS * 10**point
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    digits = significant.rstrip("0")
    if not digits:
        return sign + "0"
    if -7 < point - 1 < 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    rest = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{rest}e{point - 1}"


def attributes(kvs: Any) -> dict[str, str]:
    """KeyValue list -> the Map(String, String) the tables hold."""
    out: dict[str, str] = {}
    for kv in kvs:
        value = kv.value
        if value.WhichOneof("value") == "string_value":
            out[kv.key] = value.string_value
        else:
            out[kv.key] = any_value_to_str(value)
    return out


def _link_id(raw: bytes, size: int) -> str:
    """A link's id as hex; links are not validated, so an id of the wrong length is stored as ''."""
    return raw.hex() if len(raw) == size else ""


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


def span_rows(request: ExportTraceServiceRequest, extra_resource: dict[str, str] | None = None) -> Rows:
    """Flatten a validated export request (see ``validate_spans``) into otel_traces columns."""
    rows = Rows(TRACE_COLUMNS, [[] for _ in TRACE_COLUMNS])
    (
        ts_c,
        tid_c,
        sid_c,
        psid_c,
        tstate_c,
        name_c,
        kind_c,
        svc_c,
        rattr_c,
        sname_c,
        sver_c,
        attr_c,
        dur_c,
        scode_c,
        smsg_c,
        ev_ts_c,
        ev_name_c,
        ev_attr_c,
        l_tid_c,
        l_sid_c,
        l_ts_c,
        l_attr_c,
    ) = rows.data
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        if extra_resource:
            resource.update(extra_resource)
        service = resource.get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            scope_name = scope_spans.scope.name
            scope_version = scope_spans.scope.version
            for span in scope_spans.spans:
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                ts_c.append(start)
                tid_c.append(span.trace_id.hex())
                sid_c.append(span.span_id.hex())
                psid_c.append(span.parent_span_id.hex())
                tstate_c.append(span.trace_state)
                name_c.append(span.name)
                kind = span.kind
                kind_c.append(SPAN_KINDS[kind] if 0 <= kind < 6 else "Unspecified")
                svc_c.append(service)
                rattr_c.append(resource)
                sname_c.append(scope_name)
                sver_c.append(scope_version)
                attr_c.append(attributes(span.attributes))
                dur_c.append(end - start if end > start else 0)
                code = span.status.code
                scode_c.append(STATUS_CODES[code] if 0 <= code < 3 else "Unset")
                smsg_c.append(span.status.message)
                if span.events:
                    ev_ts_c.append([min(e.time_unix_nano, MAX_TIMESTAMP_NS) for e in span.events])
                    ev_name_c.append([e.name for e in span.events])
                    ev_attr_c.append([attributes(e.attributes) for e in span.events])
                else:
                    ev_ts_c.append([])
                    ev_name_c.append([])
                    ev_attr_c.append([])
                if span.links:
                    l_tid_c.append([_link_id(ln.trace_id, 16) for ln in span.links])
                    l_sid_c.append([_link_id(ln.span_id, 8) for ln in span.links])
                    l_ts_c.append([ln.trace_state for ln in span.links])
                    l_attr_c.append([attributes(ln.attributes) for ln in span.links])
                else:
                    l_tid_c.append([])
                    l_sid_c.append([])
                    l_ts_c.append([])
                    l_attr_c.append([])
    return rows


def log_rows(request: ExportLogsServiceRequest, extra_resource: dict[str, str] | None = None) -> Rows:
    """Flatten a validated logs export request (see ``validate_logs``) into otel_logs columns."""
    rows = Rows(LOG_COLUMNS, [[] for _ in LOG_COLUMNS])
    (
        ts_c,
        tid_c,
        sid_c,
        flags_c,
        sev_t_c,
        sev_n_c,
        svc_c,
        body_c,
        rschema_c,
        rattr_c,
        sschema_c,
        sname_c,
        sver_c,
        sattr_c,
        lattr_c,
        event_c,
    ) = rows.data
    for resource_logs in request.resource_logs:
        resource = attributes(resource_logs.resource.attributes)
        if extra_resource:
            resource.update(extra_resource)
        service = resource.get("service.name", "")
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            scope_attrs = attributes(scope.attributes)
            for record in scope_logs.log_records:
                ts_c.append(record.time_unix_nano or record.observed_time_unix_nano)
                tid_c.append(record.trace_id.hex())
                sid_c.append(record.span_id.hex())
                flags_c.append(record.flags & 0xFF)
                number = record.severity_number
                sev_t_c.append(record.severity_text or (SEVERITY_TEXT[number] if 0 <= number < 25 else ""))
                sev_n_c.append(number if 0 <= number < 256 else 0)
                svc_c.append(service)
                body_c.append(any_value_to_str(record.body))
                rschema_c.append(resource_logs.schema_url)
                rattr_c.append(resource)
                sschema_c.append(scope_logs.schema_url)
                sname_c.append(scope.name)
                sver_c.append(scope.version)
                sattr_c.append(scope_attrs)
                lattr_c.append(attributes(record.attributes))
                event_c.append(record.event_name)
    return rows


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
