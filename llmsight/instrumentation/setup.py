"""``instrument()`` and ``uninstrument()``: pick or build the TracerProvider, patch the installed clients."""

from __future__ import annotations

import importlib.util
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import ProxyTracerProvider

from llmsight.instrumentation import config
from llmsight.instrumentation.exporting import (
    DropCountingExporter,
    build_exporter,
    install_queue_full_filter,
    resolve_headers,
)
from llmsight.instrumentation.redaction import make_redactor
from llmsight.instrumentation.shutdown import flush_on_sigterm

try:  # relies on SDK internals; an SDK where they moved simply gets the ordinary spans
    from llmsight.instrumentation.deferred_spans import DeferredSpanFactory
    from llmsight.instrumentation.fast_spans import FastSpanFactory
except ImportError:  # pragma: no cover - depends on the installed SDK
    FastSpanFactory = None  # type: ignore[assignment,misc]
    DeferredSpanFactory = None  # type: ignore[assignment,misc]

logger = logging.getLogger("llmsight.instrumentation")

TRACER_NAME = "llmsight"
TRACER_VERSION = "0.1.0"

_lock = threading.Lock()
_own_provider: TracerProvider | None = None
_own_exporter: DropCountingExporter | None = None
# Providers built by build_provider -> their batch processor: only there may LLM spans be deferred,
# because only there is the exporter llmsight's own (it builds the deferred spans before encoding).
_PIPELINES: weakref.WeakKeyDictionary[TracerProvider, BatchSpanProcessor] = weakref.WeakKeyDictionary()


def build_provider(
    service_name: str | None = None,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    ingest_token: str | None = None,
    protocol: str | None = None,
    exporter: SpanExporter | None = None,
) -> tuple[TracerProvider, DropCountingExporter | None]:
    """A TracerProvider exporting over OTLP through a batch processor (bounded queue, background thread).

    The resource honours ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``; ``service_name`` wins.
    ``exporter`` replaces the OTLP exporter (tests, benchmarks): the pipeline is otherwise the same.
    """
    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    provider = TracerProvider(resource=resource)
    try:
        inner = exporter or build_exporter(endpoint, resolve_headers(headers, ingest_token), protocol)
        counting = DropCountingExporter(inner)
    except Exception:
        logger.warning("llmsight: could not set up the OTLP exporter; spans will not leave the process", exc_info=True)
        return provider, None
    batch = BatchSpanProcessor(counting)
    provider.add_span_processor(batch)
    install_queue_full_filter(counting)
    _PIPELINES[provider] = batch
    return provider, counting


def _span_factories(provider: Any, tracer: Any) -> tuple[Any, Any]:
    """(deferred, fast) span factories for this tracer; None where that path does not apply."""
    if FastSpanFactory is None or not config.fast_spans_from_env():
        return None, None
    batch = _PIPELINES.get(provider) if isinstance(provider, TracerProvider) else None
    deferred = DeferredSpanFactory.for_pipeline(tracer, batch) if batch is not None else None
    return deferred, FastSpanFactory.for_tracer(tracer)


def _provider_in_use(
    tracer_provider: otel_trace.TracerProvider | None,
    service_name: str | None,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    ingest_token: str | None,
    protocol: str | None,
) -> otel_trace.TracerProvider:
    """The given provider, else the app's global one, else (once per process) our own OTLP pipeline."""
    global _own_provider, _own_exporter
    if tracer_provider is not None:
        return tracer_provider
    current = otel_trace.get_tracer_provider()
    if not isinstance(current, ProxyTracerProvider):
        return current
    if _own_provider is None:
        _own_provider, _own_exporter = build_provider(service_name, endpoint, headers, ingest_token, protocol)
        otel_trace.set_tracer_provider(_own_provider)
        if config.flush_on_sigterm_from_env():
            flush_on_sigterm(_own_provider)
    return _own_provider


def instrument(
    service_name: str | None = None,
    endpoint: str | None = None,
    capture_content: bool = True,
    *,
    headers: Mapping[str, str] | None = None,
    ingest_token: str | None = None,
    tracer_provider: otel_trace.TracerProvider | None = None,
    redact: bool | str | Iterable[str] | Callable[[str], str] | None = None,
    max_content_length: int | None = None,
    stream_usage: bool | None = None,
    protocol: str | None = None,
) -> None:
    """Trace every call of every supported LLM client library installed in this process.

    ``endpoint`` is the collector's OTLP base URL (default ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``http://127.0.0.1:4318``); it, ``headers``, ``ingest_token`` and ``protocol`` only matter when
    llmsight builds the provider, i.e. when neither ``tracer_provider`` is given nor one was set
    globally. ``redact`` is ``True``/``"builtin"``, a list of built-in pattern names
    (``email``, ``card``, ``api_key``) or a ``str -> str`` callable applied to each captured text.
    ``stream_usage`` controls adding ``stream_options.include_usage`` to streams: ``None`` (default)
    does it for OpenAI's and Azure's own endpoints only; ``True`` for every OpenAI-compatible server.
    Calling it again updates the settings; it never patches twice.

    On the pipeline llmsight builds (or any provider from :func:`build_provider`, while nothing was
    added to it) an LLM span's attributes, message JSON included, are built on the export thread
    from a snapshot of the request and the response object (``deferred_spans``): the call pays for
    the span's ids and timing only. ``redact`` then runs on that thread. A provider of the app's
    own gets spans built while the call runs, as the SDK does.
    """
    with _lock:
        provider = _provider_in_use(tracer_provider, service_name, endpoint, headers, ingest_token, protocol)
        if stream_usage is None:
            stream_usage = config.stream_usage_from_env()
        tracer = provider.get_tracer(TRACER_NAME, TRACER_VERSION)
        deferred_spans, fast_spans = _span_factories(provider, tracer)
        config.SETTINGS = config.Settings(
            tracer=tracer,
            fast_spans=fast_spans,
            deferred_spans=deferred_spans,
            capture_content=config.content_capture_from_env(capture_content),
            max_content_length=max_content_length or config.DEFAULT_MAX_CONTENT_LENGTH,
            redact=make_redactor(redact),
            stream_usage=stream_usage,
        )
        if importlib.util.find_spec("openai") is not None:
            from llmsight.instrumentation import openai_wrappers

            openai_wrappers.patch()


def uninstrument() -> None:
    """Restore the original client methods; spans already queued are still exported."""
    with _lock:
        config.SETTINGS = None
        import sys

        wrappers = sys.modules.get("llmsight.instrumentation.openai_wrappers")
        if wrappers is not None:
            wrappers.unpatch()  # type: ignore[attr-defined]
        if _own_provider is not None:
            _own_provider.force_flush(1000)


def dropped_spans() -> int:
    """Spans lost to export failures since start (only for the pipeline llmsight built itself)."""
    return _own_exporter.dropped if _own_exporter is not None else 0
