"""One LLM call's span from start to end, shared by plain calls and streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Span, Status, StatusCode

from llmsight.instrumentation import attributes as A

try:
    from llmsight.instrumentation.fast_spans import FastSpan
except ImportError:  # pragma: no cover - SDK internals moved: no fast spans are ever created

    class FastSpan:  # type: ignore[no-redef]
        """Placeholder so the type check below is simply never true."""


from llmsight.instrumentation.safety import report_internal_error

_ERROR = StatusCode.ERROR
_PARTIAL = "the span is exported without the response's attributes"


def set_attributes(span: Span, attributes: dict[str, Any]) -> None:
    """Set attributes llmsight built itself (str, int, float, bool or tuples of str) in one step.

    The SDK validates every value again, which costs more than building them did; for our own
    values on an SDK span without value-length limits we write the checked dict directly. Anything
    else (another SDK, span limits, an ended span) takes the public API.
    """
    if type(span) is FastSpan:
        if span._end is None:
            span.attributes.update(attributes)
        return
    bounded = getattr(span, "_attributes", None)
    if (
        type(bounded) is BoundedAttributes
        and bounded.max_value_len is None
        and not bounded._immutable
        and (bounded.maxlen is None or len(bounded._dict) + len(attributes) <= bounded.maxlen)
        and getattr(span, "_end_time", 0) is None
    ):
        with bounded._lock:
            bounded._dict.update(attributes)
        return
    span.set_attributes(attributes)


Respond = Callable[["Invocation", Any, dict[str, Any]], None]


class Invocation:
    """Holds the started span and what the response side needs to know about the request.

    Two ways to end: on the SDK path the late attributes are built now; on the deferred path
    (``deferred_spans``, ``request`` set) the span ends now and they are built on the export
    thread from the same facts, by the same functions (``_deferred_attributes``).
    """

    __slots__ = (
        "span",
        "capture",
        "redact",
        "max_length",
        "hide_usage_chunk",
        "usage_probe",
        "start_ns",
        "ended",
        "late",
        "request",
    )

    def __init__(
        self,
        span: Span,
        capture: bool,
        redact: Any,
        max_length: int,
        start_ns: int,
        late: dict[str, Any] | None = None,
        request: tuple[Any, ...] | None = None,
    ) -> None:
        self.span = span
        self.capture = capture
        self.redact = redact
        self.max_length = max_length
        self.hide_usage_chunk = False
        # (host, port) when this stream was left without include_usage to learn whether the server
        # sends usage unasked (streams.USAGE_UNASKED); None otherwise.
        self.usage_probe: tuple[str, int] | None = None
        self.start_ns = start_ns
        self.ended = False
        # SDK path: attributes llmsight built at request time (content, context), set with the response.
        self.late: dict[str, Any] = late if late is not None else {}
        # Deferred path: ``(build, *args)``; ``build(self, *args)`` returns the request-side late attributes.
        self.request = request

    def finish(self, respond: Respond | None, payload: Any, exc: BaseException | None = None) -> None:
        """End the span with what ``respond(self, payload, out)`` records; as failed when ``exc`` is given.

        On the SDK path ``respond`` runs now and may raise (the caller then ends the span with
        ``end(None)``); on the deferred path it runs on the export thread, guarded there.
        """
        if self.ended:
            return
        if self.request is not None:
            self.ended = True
            self.span.late = (_deferred_attributes, self, respond, payload)  # type: ignore[attr-defined]
            if exc is None:
                self.span.end()
            else:
                self._fail(exc, None)
            return
        if respond is not None and self.span.is_recording():
            respond(self, payload, self.late)
        if exc is None:
            self.end(self.late)
        else:
            self.fail(exc, self.late)

    def _merged(self, attributes: dict[str, Any] | None) -> dict[str, Any]:
        late = self.late
        if attributes and attributes is not late:
            late.update(attributes)
        return late

    def end(self, attributes: dict[str, Any] | None) -> None:
        if self.ended:
            return
        if self.request is not None:
            self.finish(_merge if attributes else None, attributes)
            return
        self.ended = True
        span = self.span
        attributes = self._merged(attributes)
        if attributes:
            set_attributes(span, attributes)
        span.end()

    def fail(self, exc: BaseException, attributes: dict[str, Any] | None = None) -> None:
        """End the span as failed; never raises, the app's own exception is what must propagate."""
        if self.ended:
            return
        if self.request is not None:
            self.finish(_merge if attributes else None, attributes, exc)
            return
        self.ended = True
        self._fail(exc, self._merged(attributes))

    def _fail(self, exc: BaseException, attributes: dict[str, Any] | None) -> None:
        # The exception is formatted now on both paths: its traceback grows as it propagates.
        try:
            span = self.span
            if attributes:
                set_attributes(span, attributes)
            span.set_attribute(A.ERROR_TYPE, error_type(exc))
            span.record_exception(exc)
            span.set_status(Status(_ERROR, str(exc)[:1024]))
            span.end()
        except Exception:
            report_internal_error("span.fail")


def _merge(inv: Invocation, attributes: dict[str, Any], out: dict[str, Any]) -> None:
    out.update(attributes)


def _deferred_attributes(inv: Invocation, respond: Respond | None, payload: Any) -> dict[str, Any]:
    """Export thread: the late attributes, built as the SDK path builds them at request and response time."""
    request: tuple[Any, ...] = inv.request  # type: ignore[assignment]
    late: dict[str, Any] = request[0](inv, *request[1:])
    if respond is not None:
        try:
            respond(inv, payload, late)
        except Exception:
            report_internal_error("deferred.response", _PARTIAL)
    return late


def error_type(exc: BaseException) -> str:
    # The class name (``RateLimitError``, ``APITimeoutError``) is low-cardinality and says more on a
    # dashboard than a bare status code, which the exception event still carries.
    return type(exc).__qualname__


def chat_usage(usage: Any, out: dict[str, Any]) -> None:
    """Chat Completions / legacy Completions / embeddings usage object into convention attributes."""
    # ``type(x) is int`` checks: a server's odd JSON must not reach the exporter as an invalid value.
    if usage is None:
        return
    prompt = usage.prompt_tokens
    if type(prompt) is int:
        out[A.INPUT_TOKENS] = prompt
    completion = getattr(usage, "completion_tokens", None)
    if type(completion) is int:
        out[A.OUTPUT_TOKENS] = completion
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None:
        cached = getattr(details, "cached_tokens", None)
        if type(cached) is int:
            out[A.CACHE_READ_TOKENS] = cached
    details = getattr(usage, "completion_tokens_details", None)
    if details is not None:
        reasoning = getattr(details, "reasoning_tokens", None)
        if type(reasoning) is int:
            out[A.REASONING_TOKENS] = reasoning


def responses_usage(usage: Any, out: dict[str, Any]) -> None:
    if usage is None:
        return
    if type(usage.input_tokens) is int:
        out[A.INPUT_TOKENS] = usage.input_tokens
    if type(usage.output_tokens) is int:
        out[A.OUTPUT_TOKENS] = usage.output_tokens
    details = getattr(usage, "input_tokens_details", None)
    if details is not None and type(getattr(details, "cached_tokens", None)) is int:
        out[A.CACHE_READ_TOKENS] = details.cached_tokens
    details = getattr(usage, "output_tokens_details", None)
    if details is not None and type(getattr(details, "reasoning_tokens", None)) is int:
        out[A.REASONING_TOKENS] = details.reasoning_tokens
