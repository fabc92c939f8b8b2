"""llmsight's own pipeline (what ``instrument()`` builds when the app has no provider) with an in-memory
exporter in place of OTLP, and the span shape the deferred-path tests compare attribute by attribute."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmsight
from llmsight.instrumentation import config, exporting, setup


class Pipeline:
    def __init__(self, provider: TracerProvider, memory: InMemorySpanExporter, counting: Any) -> None:
        self.provider = provider
        self.memory = memory
        self.counting = counting

    def spans(self) -> list[ReadableSpan]:
        """Everything exported so far; ``force_flush`` builds and exports what is still queued."""
        assert self.provider.force_flush()
        return list(self.memory.get_finished_spans())


@contextmanager
def own_pipeline(monkeypatch: pytest.MonkeyPatch, deferred: bool, exporter: SpanExporter | None = None,
                 memory: InMemorySpanExporter | None = None, **instrument_args: Any) -> Iterator[Pipeline]:
    """Instrumented with the pipeline ``build_provider`` makes; ``deferred=False`` forces SDK spans on it.

    ``exporter`` replaces the in-memory one (``memory``, where the exported spans are read, if it passes
    them on)."""
    monkeypatch.setenv("LLMSIGHT_FAST_SPANS", "true" if deferred else "false")
    memory = memory or InMemorySpanExporter()
    provider, counting = setup.build_provider(service_name="parity", exporter=exporter or memory)
    llmsight.instrument(tracer_provider=provider, stream_usage=True, **instrument_args)
    try:
        assert config.SETTINGS is not None
        assert (config.SETTINGS.deferred_spans is not None) is deferred
        yield Pipeline(provider, memory, counting)
    finally:
        llmsight.uninstrument()
        provider.shutdown()
        sdk_logger = logging.getLogger("opentelemetry.sdk._shared_internal")
        sdk_logger.filters[:] = [f for f in sdk_logger.filters if not isinstance(f, exporting.QueueFullFilter)]


TIMING_DEPENDENT = ("gen_ai.response.time_to_first_chunk",)


def shape(span: ReadableSpan, labels: dict[int, str]) -> dict[str, Any]:
    """Everything about a span except its ids and times; parents as labels (``labels``: span id -> name)."""
    attributes = dict(span.attributes or {})
    for name in TIMING_DEPENDENT:
        if name in attributes:
            assert isinstance(attributes.pop(name), float)
            attributes[name] = "<float>"
    parent = None if span.parent is None else labels.get(span.parent.span_id, "<remote>")
    assert span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time
    assert all(span.start_time <= e.timestamp <= span.end_time for e in span.events)
    return {
        "name": span.name,
        "kind": span.kind,
        "status": (span.status.status_code, span.status.description),
        "attributes": attributes,
        "events": [(e.name, dict(e.attributes or {})) for e in span.events],
        "links": [(link.context.span_id, dict(link.attributes or {})) for link in span.links],
        "resource": dict(span.resource.attributes),
        "scope": (span.instrumentation_scope.name, span.instrumentation_scope.version),
        "parent": parent,
        "flags": int(span.context.trace_flags),
        "trace_state": span.context.trace_state.to_header(),
        "remote": span.context.is_remote,
    }


def shapes(spans: list[ReadableSpan]) -> list[dict[str, Any]]:
    labels = {s.context.span_id: s.name for s in spans}
    traces = {s.context.trace_id for s in spans}
    shaped = [shape(s, labels) for s in spans]
    for item in shaped:
        item["traces"] = len(traces)
    return shaped
