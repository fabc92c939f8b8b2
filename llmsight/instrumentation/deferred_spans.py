"""LLM spans whose attributes are built on the export thread, for the pipeline llmsight set up itself.

On the request path llmsight then only allocates the span's ids (so the span is a real current
span: children, ``get_current_span()`` and propagation see the right SpanContext), keeps the
call's facts (a snapshot of the request, the response object, a stream's accumulator) and, at
the end, appends the span itself to the ``BatchSpanProcessor``'s bounded queue. The message JSON
and every other late attribute are built by :meth:`DeferredSpan.readable`, which llmsight's
exporter (``exporting.DropCountingExporter``) calls on the batch thread, or in ``force_flush``
and shutdown, before encoding: the same attributes, in the same order, as the SDK path.

Only used when the pipeline is exactly the one llmsight built (one ``BatchSpanProcessor`` into
its exporter), with the SDK's default sampler (parent-based always-on, whose decision needs no
call) and default span limits; anything the app adds later turns it off for the next spans, and
a deferred span that ends after that is built at once and handed to every processor.
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from llmsight.instrumentation.fast_context import current_span
from llmsight.instrumentation.fast_spans import FastSpan, FastSpanFactory
from llmsight.instrumentation.safety import report_internal_error

_SAMPLED = TraceFlags.SAMPLED
_RANDOM = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
_FLAGS = {value: TraceFlags(value) for value in range(256)}  # TraceFlags objects made once, not per span
_time_ns = time.time_ns
_getrandbits = random.getrandbits  # what RandomIdGenerator calls, so seeding ``random`` works alike
_new_tuple = tuple.__new__


def _span_context(trace_id: int, span_id: int, flags: TraceFlags, state: Any) -> SpanContext:
    """``SpanContext(trace_id, span_id, False, flags, state)`` for ids known valid, without re-checking them."""
    return _new_tuple(SpanContext, (trace_id, span_id, False, flags, state, True))


if _span_context(1, 2, _FLAGS[1], DEFAULT_TRACE_STATE) != SpanContext(1, 2, False, _FLAGS[1]):  # pragma: no cover

    def _span_context(trace_id: int, span_id: int, flags: TraceFlags, state: Any) -> SpanContext:  # noqa: F811
        return SpanContext(trace_id, span_id, False, flags, state)


_forked = False


def _note_fork() -> None:
    global _forked
    _forked = True  # the SDK re-creates its queue and thread in the child; let it queue for us there


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_note_fork)

# A span's late attributes: ``(builder, *args)``; ``builder(*args)`` returns them (run once, off the request path).
Late = tuple[Any, ...]


class DeferredSpan(FastSpan):
    """A :class:`FastSpan` that ends into the batch queue as itself; built into a ``ReadableSpan`` later."""

    __slots__ = ("late",)

    @property
    def context(self) -> SpanContext:
        """What ``BatchSpanProcessor.on_end`` reads (its sampled flag) before queueing a span."""
        return self._context

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time or _time_ns()
        factory: DeferredSpanFactory = self._factory  # type: ignore[assignment]
        try:
            if factory.processor._span_processors is factory.untouched or factory.usable():
                factory.enqueue(self)  # queued as is: built on export
            else:  # a processor was added since the span started: it gets a real span, now
                factory.processor.on_end(self.readable())
        except Exception:
            report_internal_error("span.end", "the span is lost")

    def readable(self) -> ReadableSpan:
        """Build the late attributes (once) and return the span as the SDK path would have exported it."""
        attributes = self.attributes
        late: Late | None = getattr(self, "late", None)
        if late is not None:
            self.late = None  # also breaks the span -> invocation -> span cycle
            try:
                built = late[0](*late[1:])
            except Exception:
                report_internal_error("deferred.attributes", "the span is exported without them")
                built = None
            if built:
                attributes.update(built)
        return self._readable(attributes)


def materialize(spans: Sequence[Any]) -> tuple[list[ReadableSpan], int]:
    """The batch with deferred spans built; a span that cannot be built is left out and counted."""
    ready: list[ReadableSpan] = []
    failed = 0
    for span in spans:
        if type(span) is DeferredSpan:
            try:
                span = span.readable()
            except Exception:
                report_internal_error("deferred.readable", "the span is dropped")
                failed += 1
                continue
        ready.append(span)
    return ready, failed


class DeferredSpanFactory(FastSpanFactory):
    """Starts :class:`DeferredSpan`s while the pipeline is still llmsight's own, untouched."""

    def __init__(self, tracer: Any, batch: BatchSpanProcessor) -> None:
        super().__init__(tracer)
        self.batch = batch
        self._root_flags = _FLAGS[_SAMPLED | (_RANDOM if self.ids.is_trace_id_random() else 0)]
        self._random_ids = type(self.ids) is RandomIdGenerator
        self.untouched: tuple[Any, ...] | None = None  # the processors tuple, while it is just ``batch``
        # The batch processor's queue, where a deferred span goes as it is (its ``on_end`` only checks
        # the sampled flag, which a deferred span always has, then calls ``emit``).
        inner = getattr(batch, "_batch_processor", None)
        queue = getattr(inner, "_queue", None)
        known = all(hasattr(inner, a) for a in ("emit", "_shutdown", "_max_export_batch_size", "_worker_awaken"))
        self._inner = inner if known and type(queue) is deque and queue.maxlen else None

    def enqueue(self, span: DeferredSpan) -> None:
        """``BatchSpanProcessor.on_end(span)``; the usual case (room in the queue) done here without
        its per-span checks. A full queue, shutdown or a fork go through the SDK's own ``emit``,
        which drops, counts and warns as it does for any span."""
        inner = self._inner
        if inner is None:
            self.batch.on_end(span)  # type: ignore[arg-type]
            return
        queue = inner._queue
        if inner._shutdown or _forked or len(queue) >= queue.maxlen:
            inner.emit(span)
            return
        queue.appendleft(span)
        if len(queue) >= inner._max_export_batch_size:
            awaken = inner._worker_awaken
            if not awaken.is_set():
                awaken.set()

    @classmethod
    def for_pipeline(cls, tracer: Any, batch: Any) -> DeferredSpanFactory | None:
        """A factory if ``tracer`` feeds only ``batch`` (the processor llmsight built) and samples by default."""
        try:
            if FastSpanFactory.for_tracer(tracer) is None or type(batch) is not BatchSpanProcessor:
                return None
            if tracer.sampler is not DEFAULT_ON:
                return None
            factory = cls(tracer, batch)
            return factory if factory.usable() else None
        except Exception:  # SDK internals differ: the ordinary path is always right
            return None

    def usable(self) -> bool:
        """Only while llmsight's batch processor is the one and only processor."""
        processors = self.processor._span_processors
        if processors is not self._checked:
            self._plain = len(processors) == 1 and processors[0] is self.batch
            self.untouched = processors if self._plain else None
            self._checked = processors
        return self._plain

    def start(
        self, name: str, kind: SpanKind, attributes: dict[str, Any], start_time: int, links: Sequence[Link] = ()
    ) -> Any:
        """Ids, parent and sampled flag exactly as the SDK with ``ParentBased(ALWAYS_ON)`` gives them."""
        current = current_span()
        random_ids = self._random_ids  # RandomIdGenerator's own calls, inlined, in the SDK's order
        if current is not None and (parent := current.get_span_context()).is_valid:
            flags = parent.trace_flags
            sampled = flags & _SAMPLED
            span_id = (_getrandbits(64) if random_ids else 0) or self.ids.generate_span_id()
            context = _span_context(parent.trace_id, span_id, _FLAGS[sampled | (flags & _RANDOM)], parent.trace_state)
            if not sampled:  # the parent's decision: not recorded, ids still propagate
                return NonRecordingSpan(context)
            return DeferredSpan(self, name, context, parent, attributes, kind, start_time)
        trace_id = (_getrandbits(128) if random_ids else 0) or self.ids.generate_trace_id()
        span_id = (_getrandbits(64) if random_ids else 0) or self.ids.generate_span_id()
        context = _span_context(trace_id, span_id, self._root_flags, DEFAULT_TRACE_STATE)
        return DeferredSpan(self, name, context, None, attributes, kind, start_time)
