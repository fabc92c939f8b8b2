"""Making the LLM span current, in one step instead of the context API's five calls.

Every instrumented call sets its span as the current one and restores the previous context after.
Through the public API (``set_span_in_context``, ``attach``, ``detach``) that is a chain of small
calls each time, measurable next to everything else llmsight does per call. When the runtime
context is OpenTelemetry's default (a ``ContextVar``; another one is only chosen with
``OTEL_PYTHON_CONTEXT``) the same ``Context`` objects are set and reset on that variable
directly; with any other runtime context the public API is used.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.context.context import Context

try:  # internals of the API package; without them the public calls below are used
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
    from opentelemetry.trace.propagation import _SPAN_KEY

    _RUNTIME: Any = otel_context._RUNTIME_CONTEXT
    _VAR: ContextVar[Context] | None = (
        _RUNTIME._current_context if type(_RUNTIME) is ContextVarsRuntimeContext else None
    )
except (ImportError, AttributeError):  # pragma: no cover - depends on the installed API
    _RUNTIME = _VAR = None
    _SPAN_KEY = ""

_set_span_in_context = otel_trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach


# Each function checks ``_VAR is not None and otel_context._RUNTIME_CONTEXT is _RUNTIME`` (inlined, as
# calls are what this module saves): the runtime context is a module global that could be replaced.


def current_span() -> Any:
    """``trace.get_current_span()``, or None when there is no current span."""
    if _VAR is not None and otel_context._RUNTIME_CONTEXT is _RUNTIME:
        span = _VAR.get().get(_SPAN_KEY)
    else:
        span = otel_trace.get_current_span()
    return span if isinstance(span, otel_trace.Span) else None


def attach_span(span: otel_trace.Span) -> Token[Context]:
    """``attach(set_span_in_context(span))``: the same new Context, set the same way."""
    var = _VAR
    if var is not None and otel_context._RUNTIME_CONTEXT is _RUNTIME:
        return var.set(Context({**var.get(), _SPAN_KEY: span}))
    return _attach(_set_span_in_context(span))


def detach(token: Token[Context]) -> None:
    """``detach(token)``: errors are logged by the API, never raised."""
    if _VAR is not None and otel_context._RUNTIME_CONTEXT is _RUNTIME:
        try:
            _VAR.reset(token)  # type: ignore[union-attr]
            return
        except Exception:  # a token from another context: let the API say so, as it would have
            pass
    _detach(token)
