"""One LLM call's span from start to end, shared by plain calls and streams."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from llmsight.instrumentation import attributes as A
from llmsight.instrumentation.safety import report_internal_error

_ERROR = StatusCode.ERROR


class Invocation:
    """Holds the started span and what the response side needs to know about the request."""

    __slots__ = ("span", "capture", "redact", "max_length", "hide_usage_chunk", "start_ns", "ended")

    def __init__(self, span: Span, capture: bool, redact: Any, max_length: int, start_ns: int) -> None:
        self.span = span
        self.capture = capture
        self.redact = redact
        self.max_length = max_length
        self.hide_usage_chunk = False
        self.start_ns = start_ns
        self.ended = False

    def end(self, attributes: dict[str, Any] | None) -> None:
        if self.ended:
            return
        self.ended = True
        span = self.span
        if attributes:
            span.set_attributes(attributes)
        span.end()

    def fail(self, exc: BaseException, attributes: dict[str, Any] | None = None) -> None:
        """End the span as failed; never raises, the app's own exception is what must propagate."""
        if self.ended:
            return
        try:
            self.ended = True
            span = self.span
            if attributes:
                span.set_attributes(attributes)
            span.set_attribute(A.ERROR_TYPE, error_type(exc))
            span.record_exception(exc)
            span.set_status(Status(_ERROR, str(exc)[:1024]))
            span.end()
        except Exception:
            report_internal_error("span.fail")


def error_type(exc: BaseException) -> str:
    # The class name (``RateLimitError``, ``APITimeoutError``) is low-cardinality and says more on a
    # dashboard than a bare status code, which the exception event still carries.
    return type(exc).__qualname__


def chat_usage(usage: Any, out: dict[str, Any]) -> None:
    """Chat Completions / legacy Completions / embeddings usage object into convention attributes."""
    if usage is None:
        return
    prompt = usage.prompt_tokens
    if prompt is not None:
        out[A.INPUT_TOKENS] = prompt
    completion = getattr(usage, "completion_tokens", None)
    if completion is not None:
        out[A.OUTPUT_TOKENS] = completion
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None:
        cached = details.cached_tokens
        if cached is not None:
            out[A.CACHE_READ_TOKENS] = cached
    details = getattr(usage, "completion_tokens_details", None)
    if details is not None:
        reasoning = details.reasoning_tokens
        if reasoning is not None:
            out[A.REASONING_TOKENS] = reasoning


def responses_usage(usage: Any, out: dict[str, Any]) -> None:
    if usage is None:
        return
    out[A.INPUT_TOKENS] = usage.input_tokens
    out[A.OUTPUT_TOKENS] = usage.output_tokens
    details = getattr(usage, "input_tokens_details", None)
    if details is not None and getattr(details, "cached_tokens", None) is not None:
        out[A.CACHE_READ_TOKENS] = details.cached_tokens
    details = getattr(usage, "output_tokens_details", None)
    if details is not None and getattr(details, "reasoning_tokens", None) is not None:
        out[A.REASONING_TOKENS] = details.reasoning_tokens
