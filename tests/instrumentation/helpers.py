"""Helpers to read llmsight spans out of the in-memory exporter."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def llm_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """Spans of model calls (GenAI operation other than retrieval), in end order."""
    return [s for s in exporter.get_finished_spans()
            if (s.attributes or {}).get("gen_ai.operation.name") not in (None, "retrieval")]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = llm_spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def attr_json(span: ReadableSpan, name: str) -> Any:
    value = (span.attributes or {})[name]
    assert isinstance(value, str)
    return json.loads(value)
