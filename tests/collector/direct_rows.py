"""Write spans into otel_traces directly, as the contrib ClickHouse exporter would: for tests of what the
views derive from rows that did not come through llmsight's collector (and of migrations)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence

from llmsight.collector.otlp_rows import TRACE_COLUMNS

Event = tuple[str, dict[str, str]] | tuple[str, dict[str, str], float]  # name, attributes[, seconds after start]


def insert_span(
    client,
    attributes: dict[str, str],
    events: Sequence[Event] = (),
    status: str = "Unset",
    trace_id: str | None = None,
    start: dt.datetime | None = None,
) -> str:
    """One client span with ``attributes``, starting at ``start`` (now); returns its trace id."""
    trace_id = trace_id or os.urandom(16).hex()
    start = start or dt.datetime.now(dt.timezone.utc)
    row = {
        "Timestamp": start,
        "TraceId": trace_id,
        "SpanId": trace_id[:16] if len(trace_id) >= 16 else os.urandom(8).hex(),
        "ParentSpanId": "",
        "TraceState": "",
        "SpanName": "openai.chat",
        "SpanKind": "Client",
        "ServiceName": "legacy-app",
        "ResourceAttributes": {"service.name": "legacy-app", "deployment.environment": "staging"},
        "ScopeName": "opentelemetry.instrumentation.openai.v1",
        "ScopeVersion": "0.40.0",
        "SpanAttributes": attributes,
        "Duration": 1_500_000_000,
        "StatusCode": status,
        "StatusMessage": "",
        "Events.Timestamp": [start + dt.timedelta(seconds=event[2] if len(event) > 2 else 0) for event in events],
        "Events.Name": [event[0] for event in events],
        "Events.Attributes": [event[1] for event in events],
        "Links.TraceId": [],
        "Links.SpanId": [],
        "Links.TraceState": [],
        "Links.Attributes": [],
    }
    client.insert("otel_traces", [[row[c] for c in TRACE_COLUMNS]], column_names=TRACE_COLUMNS)
    return trace_id
