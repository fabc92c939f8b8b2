"""pytest plugin (``-p openai_suite_plugin``): runs a test session with ``llmsight.instrument()`` active.

Used by bench/openai_suite.py on openai-python's own tests. Spans go to a counting exporter through
the real SDK; ``LLMSIGHT_STREAM_USAGE`` (default true here: the most invasive setting) is honoured.
Each process appends "spans=N internal_errors=M" to ``$LLMSIGHT_SUITE_STATS`` at the end.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import llmsight


class _Counting(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().replace("\n", " "))


_exporter = _Counting()
_errors = _Errors()


def pytest_configure(config: object) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    value = os.environ.get("LLMSIGHT_STREAM_USAGE", "true").strip().lower()
    logging.getLogger("llmsight.instrumentation").addHandler(_errors)
    llmsight.instrument(tracer_provider=provider, stream_usage=value in ("1", "true", "yes", "on"))


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    path = os.environ.get("LLMSIGHT_SUITE_STATS")
    if path:
        with open(path, "a") as out:
            out.write(f"spans={_exporter.spans} internal_errors={len(_errors.messages)}\n")
            for message in _errors.messages:
                out.write(f"  {message}\n")
