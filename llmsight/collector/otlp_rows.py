"""Flatten validated OTLP export requests into column-oriented rows for ClickHouse (otel_traces, otel_logs).

Values are written the way the OpenTelemetry Collector contrib ClickHouse exporter writes
them, so both collectors produce identical rows: lowercase hex ids, ``Client``/``Server``
span kinds, ``Unset``/``Ok``/``Error`` status codes, attribute values as strings (arrays
and maps as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmsight.collector.otlp import MAX_TIMESTAMP_NS
from llmsight.collector.otlp_values import any_value_to_str, attributes

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


@dataclass
class Rows:
    """Column-oriented rows for one table: one list per column, in ``columns`` order."""

    columns: list[str]
    data: list[list[Any]]

    @property
    def count(self) -> int:
        return len(self.data[0]) if self.data else 0


def _link_id(raw: bytes, size: int) -> str:
    """A link's id as hex; links are not validated, so an id of the wrong length is stored as ''."""
    return raw.hex() if len(raw) == size else ""


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
