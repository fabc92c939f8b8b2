"""``llmsight.feedback()``: a person's verdict on an answer, sent as OpenTelemetry data like the call itself.

Feedback is a zero-length span named ``llmsight.feedback`` whose attributes name the call it is
about (its trace and span id, or the provider's response id) and carry the verdict. A span, not a
log record, because the app already exports spans (no second pipeline to set up) and any OTel SDK,
or a browser posting OTLP/HTTP JSON to ``/v1/traces``, can send one. The store's ``feedback_mv``
turns these spans into ``feedback`` rows. Like all telemetry here it never raises into the app.
"""

from __future__ import annotations

import datetime as dt
import logging

from opentelemetry.trace import SpanKind

from llmsight.instrumentation.context import _tracer

log = logging.getLogger("llmsight")

SPAN_NAME = "llmsight.feedback"
_HEX = frozenset("0123456789abcdef")


def _hex_id(value: str | int | None, length: int) -> str:
    if value is None or value == "":
        return ""
    text = f"{value:0{length}x}" if isinstance(value, int) else str(value).lower().removeprefix("0x")
    if len(text) != length or not set(text) <= _HEX:
        raise ValueError(f"expected {length} hex digits, got {value!r}")
    return text


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _nanos(at: dt.datetime) -> int:
    """Exact nanoseconds since the epoch (a float timestamp loses the microsecond); naive means UTC."""
    aware = at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
    return (aware - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def feedback(
    value: bool | float,
    *,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
    response_id: str = "",
    label: str = "",
    comment: str = "",
    user_id: str = "",
    timestamp: dt.datetime | None = None,
) -> bool:
    """Record a person's verdict on one answer; returns whether it was handed to the exporter.

    ``value`` is ``True`` (thumbs up) / ``False`` (thumbs down) or a score from 0 (bad) to 1
    (good); map stars with ``(stars - 1) / 4``. Address the call by ``trace_id`` + ``span_id``
    (hex, as stored in ``llm_calls.TraceId`` / ``SpanId``, or the ints of a ``SpanContext``) or by the provider's
    ``response_id`` (``response.id`` of the OpenAI reply). ``timestamp`` is when the person said it
    (default now; a naive datetime is UTC). Mistakes are logged, never raised: feedback must not break the app.
    """
    try:
        score = float(value)
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"value {value!r}: use True / False or a score from 0 to 1")
        trace_hex, span_hex = _hex_id(trace_id, 32), _hex_id(span_id, 16)
        if not (trace_hex and span_hex) and not response_id:
            raise ValueError("name the call: trace_id and span_id, or response_id")
        attributes = {
            "llmsight.feedback.trace_id": trace_hex,
            "llmsight.feedback.span_id": span_hex,
            "llmsight.feedback.response_id": response_id,
            "llmsight.feedback.score": score,
            "llmsight.feedback.thumbs": ("up" if value else "down") if isinstance(value, bool) else "",
            "llmsight.feedback.label": label,
            "llmsight.feedback.comment": comment[:4000],
        }
        if user_id:
            attributes["user.id"] = user_id
        at = _nanos(timestamp or dt.datetime.now(dt.timezone.utc))
        span = _tracer().start_span(SPAN_NAME, kind=SpanKind.INTERNAL, attributes=attributes, start_time=at)
        span.end(end_time=at)
        return True
    except Exception as exc:  # noqa: BLE001 - telemetry never raises into the app
        log.warning("llmsight.feedback not recorded: %s", exc)
        return False
