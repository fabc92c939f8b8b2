"""The collector's own counters, served at ``GET /metrics`` in Prometheus text format.

A dozen counters do not justify a metrics library and its global registry; this is a dict
behind a lock, rendered on request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

HELP: dict[str, tuple[str, str]] = {
    "llmsight_received_spans_total": ("counter", "Spans received by the receivers, valid or not"),
    "llmsight_received_log_records_total": ("counter", "Log records received"),
    "llmsight_received_metric_points_total": ("counter", "Metric data points received (counted, not stored)"),
    "llmsight_stored_spans_total": ("counter", "Spans inserted into otel_traces"),
    "llmsight_stored_log_records_total": ("counter", "Log records inserted into otel_logs"),
    "llmsight_rejected_spans_total": ("counter", "Spans rejected as invalid (reported in partial_success)"),
    "llmsight_rejected_log_records_total": ("counter", "Log records rejected as invalid (reported in partial_success)"),
    "llmsight_rejected_requests_total": ("counter", "Requests answered with a 4xx/5xx status"),
    "llmsight_throttled_requests_total": ("counter", "Requests answered 429/503 with Retry-After"),
    "llmsight_insert_errors_total": ("counter", "Failed ClickHouse inserts (retried)"),
    "llmsight_spool_write_errors_total": ("counter", "Spool writes refused (503) because the disk failed them"),
    "llmsight_spool_io_errors_total": ("counter", "Exporter spool reads/checkpoints/dead letters failed (retried)"),
    "llmsight_dead_letter_total": ("counter", "Records or batches set aside in spool/dead-letter (see the log)"),
    "llmsight_redactions_total": ("counter", "Values replaced by the redaction processor"),
    "llmsight_inserts_total": ("counter", "ClickHouse insert statements"),
    "llmsight_insert_seconds_total": ("counter", "Time spent in ClickHouse inserts"),
    "llmsight_sql_decoded_spans_total": ("counter", "Spans ClickHouse decoded from OTLP itself (the SQL decoder)"),
    "llmsight_python_decoded_spans_total": ("counter", "Spans decoded by the collector's Python decoder"),
    "llmsight_python_fallback_batches_total": (
        "counter",
        "Trace batches the SQL decoder sent to the Python decoder (deep values, repeated keys, new models)",
    ),
    "llmsight_receive_decode_seconds_total": ("counter", "Receivers' time parsing and validating requests"),
    "llmsight_spool_write_seconds_total": ("counter", "Time writing and fsyncing the spool"),
    "llmsight_python_decode_seconds_total": ("counter", "Exporter's time decoding records to rows in Python"),
    "llmsight_spool_bytes": ("gauge", "Acknowledged bytes on disk not yet in ClickHouse"),
    "llmsight_inflight_bytes": ("gauge", "Request bytes being decoded and spooled right now"),
}


class Telemetry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = dict.fromkeys(HELP, 0.0)
        self._gauges: dict[str, Callable[[], float]] = {}

    def add(self, name: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0.0) + amount

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def get(self, name: str) -> float:
        if name in self._gauges:
            return self._gauges[name]()
        with self._lock:
            return self._values.get(name, 0.0)

    def render(self) -> str:
        lines: list[str] = []
        for name, (kind, text) in HELP.items():
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            value = self.get(name)
            lines.append(f"{name} {int(value) if float(value).is_integer() else value}")
        return "\n".join(lines) + "\n"
