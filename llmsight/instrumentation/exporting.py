"""The OTLP export pipeline llmsight builds when the app has no TracerProvider of its own."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.util.re import parse_env_headers

try:  # relies on SDK internals, as fast spans do; without them no deferred span is ever made
    from llmsight.instrumentation.deferred_spans import materialize
except ImportError:  # pragma: no cover - depends on the installed SDK

    def materialize(spans: Sequence[ReadableSpan]) -> tuple[list[ReadableSpan], int]:
        return list(spans), 0

logger = logging.getLogger("llmsight.instrumentation")

DEFAULT_HTTP_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_GRPC_ENDPOINT = "http://127.0.0.1:4317"
# Short enough that a dead collector delays process exit by seconds, not the SDK's 10 s per retry.
DEFAULT_TIMEOUT_S = 5.0

_grpc_warned = False


class DropCountingExporter(SpanExporter):
    """Counts spans lost to a down or slow collector and says so in a rate-limited warning.

    The app never sees export failures (export runs on the batch processor's thread); this is the
    one place where they become visible to whoever reads the logs. It is also where llmsight's
    deferred spans (``deferred_spans``) are built, just before encoding, off the app's threads.
    """

    def __init__(self, inner: SpanExporter, warn_every_s: float = 60.0) -> None:
        self.inner = inner
        self.dropped = 0
        self._warn_every_s = warn_every_s
        self._last_warning = 0.0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ready, unbuilt = materialize(spans)
        if unbuilt:
            self._count(unbuilt, "spans llmsight could not build (see the internal error logged)")
        try:
            result = self.inner.export(ready) if ready else SpanExportResult.SUCCESS
        except Exception:
            result = SpanExportResult.FAILURE
        if result is not SpanExportResult.SUCCESS:
            self._count(len(ready))
        return result

    def _count(self, n: int, reason: str = "the collector did not take them (down, refusing or too slow)") -> None:
        with self._lock:
            self.dropped += n
            now = time.monotonic()
            if now - self._last_warning < self._warn_every_s:
                return
            self._last_warning = now
            total = self.dropped
        logger.warning("llmsight: %s, %d span(s) dropped so far", reason, total)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class QueueFullFilter(logging.Filter):
    """Counts the spans the batch processor drops when its queue is full, and hides its warning.

    The SDK warns once per drop (de-duplicated to one per 20 s by its own filter, which would also
    hide the count); we go first, count every drop, and report them in our rate-limited warning.
    """

    def __init__(self, counter: DropCountingExporter) -> None:
        super().__init__()
        self.counter = counter

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg.startswith("Queue full") if isinstance(record.msg, str) else False:
            self.counter._count(1, "the export queue was full (spans came faster than the collector took them)")
            return False
        return True


def install_queue_full_filter(counter: DropCountingExporter) -> None:
    sdk_logger = logging.getLogger("opentelemetry.sdk._shared_internal")
    sdk_logger.filters.insert(0, QueueFullFilter(counter))  # before the SDK's de-duplicating filter


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value.strip()
    return None


def resolve_protocol(protocol: str | None) -> str:
    value = protocol or _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
    value = value or "http/protobuf"
    return "grpc" if value.lower() == "grpc" else "http/protobuf"


def resolve_headers(headers: Mapping[str, str] | None, ingest_token: str | None) -> dict[str, str]:
    """Environment headers first, then ``headers=``, then ``ingest_token=`` as a bearer token."""
    merged: dict[str, str] = {}
    env = _env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
    if env:
        merged.update(parse_env_headers(env, liberal=True))
    if headers:
        merged.update({k.lower(): v for k, v in headers.items()})
    if ingest_token:
        merged["authorization"] = f"Bearer {ingest_token}"
    return merged


def resolve_http_endpoint(endpoint: str | None) -> str:
    if endpoint:
        endpoint = endpoint.rstrip("/")
        return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"
    traces = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = _env("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_HTTP_ENDPOINT
    return f"{base.rstrip('/')}/v1/traces"


def _timeout() -> float:
    value = _env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    try:
        return float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


def build_exporter(endpoint: str | None, headers: dict[str, str], protocol: str | None) -> SpanExporter:
    """OTLP over HTTP/protobuf by default; gRPC when asked for and installed (else warn once, use HTTP)."""
    global _grpc_warned
    if resolve_protocol(protocol) == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            if not _grpc_warned:
                _grpc_warned = True
                logger.warning(
                    "llmsight: OTLP protocol grpc asked for but opentelemetry-exporter-otlp-proto-grpc is "
                    "not installed (pip install 'llmsight[grpc]'); exporting over HTTP/protobuf instead"
                )
        else:
            grpc_endpoint = endpoint or _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
            return GrpcExporter(
                endpoint=grpc_endpoint or DEFAULT_GRPC_ENDPOINT,
                headers=tuple(headers.items()) or None,
                timeout=_timeout(),
            )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=resolve_http_endpoint(endpoint), headers=headers or None, timeout=_timeout())
