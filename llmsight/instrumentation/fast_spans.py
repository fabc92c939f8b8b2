"""A lighter recording span for llmsight's LLM spans, used only when the SDK pipeline is the plain one.

The SDK's ``Span`` (locks, bounded containers, re-validation of every attribute) costs more than
everything else llmsight does per call. When the tracer is the SDK's with default limits and its
processors are only ``BatchSpanProcessor``/``SimpleSpanProcessor`` (whose ``on_start`` does
nothing), llmsight samples, identifies and parents the span exactly as the SDK would, and hands the
processors the same ``ReadableSpan`` at the end. Any other set-up (custom processors, span limits,
internal SDK metrics, another SDK) takes the ordinary ``tracer.start_span`` path.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes, AttributeValue

_SAMPLED = TraceFlags.SAMPLED
_RANDOM = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
_PLAIN_PROCESSORS = (BatchSpanProcessor, SimpleSpanProcessor)
_UNSET = Status(StatusCode.UNSET)
_get_current_span = trace_api.get_current_span


class FastSpan(trace_api.Span):
    """A recording span whose attributes are a plain dict; ends into the processors' ``on_end``."""

    __slots__ = (
        "_name",
        "_context",
        "_parent",
        "attributes",
        "_kind",
        "_start",
        "_end",
        "_events",
        "_links",
        "_status",
        "_factory",
    )

    def __init__(
        self,
        factory: FastSpanFactory,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
        kind: SpanKind,
        start_time: int,
    ) -> None:
        self._factory = factory
        self._name = name
        self._context = context
        self._parent = parent
        self.attributes = attributes
        self._kind = kind
        self._start = start_time
        self._end: int | None = None
        self._events: list[Event] | tuple[()] = ()  # a list once there is one: most spans have none
        self._links: list[Link] | tuple[()] = ()
        self._status = _UNSET

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        # Rare (llmsight's own values go straight into the dict): validate the way the SDK does.
        if self._end is None:
            cleaned = BoundedAttributes(attributes={key: value}).get(key)
            if cleaned is not None:
                self.attributes[key] = cleaned

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        if self._end is None:
            event = Event(name, dict(attributes) if attributes else None, timestamp or time.time_ns())
            if self._events:
                self._events.append(event)  # type: ignore[union-attr]
            else:
                self._events = [event]

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        if self._end is None and context.is_valid:
            if self._links:
                self._links.append(Link(context, attributes))  # type: ignore[union-attr]
            else:
                self._links = [Link(context, attributes)]

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end is not None or self._status.status_code is StatusCode.OK:
            return
        self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        event_attributes: dict[str, Any] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event_attributes.update(attributes)
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end_time or time.time_ns()
        self._factory.processor.on_end(self._readable(self.attributes))

    def _readable(self, attributes: dict[str, Any]) -> ReadableSpan:
        """The span as the SDK hands it to processors (also built later, by deferred spans)."""
        factory = self._factory
        return ReadableSpan(
            name=self._name,
            context=self._context,
            parent=self._parent,
            resource=factory.resource,
            attributes=attributes,
            events=tuple(self._events),
            links=tuple(self._links),
            kind=self._kind,
            status=self._status,
            start_time=self._start,
            end_time=self._end,
            instrumentation_info=factory.instrumentation_info,
            instrumentation_scope=factory.scope,
        )


class FastSpanFactory:
    """Starts :class:`FastSpan`s for one SDK tracer, while its pipeline stays the plain one."""

    def __init__(self, tracer: SdkTracer) -> None:
        self.tracer = tracer
        self.sampler = tracer.sampler
        self.ids = tracer.id_generator
        self.resource = tracer.resource
        self.processor = tracer.span_processor
        self.instrumentation_info = tracer.instrumentation_info
        self.scope = tracer._instrumentation_scope
        self._checked: tuple[Any, ...] | None = None
        self._plain = False

    @classmethod
    def for_tracer(cls, tracer: Any) -> FastSpanFactory | None:
        """A factory if ``tracer`` is a plain SDK tracer, else None (use ``tracer.start_span``)."""
        try:
            if type(tracer) is not SdkTracer or type(tracer.span_processor) is not SynchronousMultiSpanProcessor:
                return None
            limits = tracer._span_limits
            if limits.max_attribute_length is not None or (limits.max_span_attributes or 0) < 128:
                return None
            if limits.max_events is not None and limits.max_events < 8:
                return None
            if os.environ.get("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "").lower() == "true":
                return None
            if not tracer._is_enabled():
                return None
            return cls(tracer)
        except Exception:  # an SDK whose internals differ: the ordinary path is always right
            return None

    def usable(self) -> bool:
        """Processors can be added after instrument(); recheck when their tuple changes."""
        processors = self.processor._span_processors
        if processors is not self._checked:
            self._plain = all(type(p) in _PLAIN_PROCESSORS for p in processors)
            self._checked = processors
        return self._plain

    def start(
        self, name: str, kind: SpanKind, attributes: dict[str, Any], start_time: int, links: Sequence[Link] = ()
    ) -> trace_api.Span:
        parent = _get_current_span().get_span_context()
        if parent.is_valid:
            trace_id = parent.trace_id
            random = parent.trace_flags & _RANDOM
        else:
            parent = None
            trace_id = self.ids.generate_trace_id()
            random = _RANDOM if self.ids.is_trace_id_random() else 0
        result = self.sampler.should_sample(None, trace_id, name, kind, attributes, links)
        decision = result.decision
        flags = (_SAMPLED if decision.is_sampled() else 0) | random
        context = SpanContext(
            trace_id,
            self.ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(flags),
            trace_state=result.trace_state,
        )
        if not decision.is_recording():
            return trace_api.NonRecordingSpan(context)
        sampled = result.attributes
        span_attributes = attributes if sampled is attributes or not sampled else dict(sampled)
        return FastSpan(self, name, context, parent, span_attributes, kind, start_time)
