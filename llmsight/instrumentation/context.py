"""Evaluation context (documents, ground truth, session, user, tags) and the app's own spans.

Context lives in a ``ContextVar`` holding attributes already serialised at ``with`` time, so an LLM
span pays one dict merge for it. ContextVars follow ``await`` and asyncio tasks; a plain
``threading.Thread`` or an executor does not copy them, so wrap the target with
:func:`bind_context` (``executor.submit(bind_context(fn), ...)``) — the same rule as OpenTelemetry's
own current span.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from llmsight.instrumentation import attributes as A
from llmsight.instrumentation import config
from llmsight.instrumentation.message_json import to_json
from llmsight.instrumentation.messages import normalize_documents
from llmsight.instrumentation.safety import report_internal_error

F = TypeVar("F", bound=Callable[..., Any])
Attributes = dict[str, Any]

_CURRENT: contextvars.ContextVar[Attributes | None] = contextvars.ContextVar("llmsight_context", default=None)

# Documents of the last retrieval per trace id, so LLM calls *after* a retrieval block in the same
# trace are evaluated against them. Bounded: the oldest traces are forgotten first.
_TRACE_DOCUMENTS: dict[int, str] = {}
_TRACE_DOCUMENTS_MAX = 4096
_trace_lock = threading.Lock()


def _tracer() -> Tracer:
    settings = config.SETTINGS
    if settings is not None:
        return settings.tracer
    return otel_trace.get_tracer("llmsight")


def _max_length() -> int:
    settings = config.SETTINGS
    return settings.max_content_length if settings is not None else config.DEFAULT_MAX_CONTENT_LENGTH


def _capture() -> bool:
    settings = config.SETTINGS
    return settings.capture_content if settings is not None else True


def documents_json(documents: Iterable[Any]) -> str:
    return to_json(normalize_documents(documents), _max_length())


def current_attributes() -> Attributes | None:
    """Hot path: the context attributes for an LLM span starting now (None when there are none)."""
    attrs = _CURRENT.get()
    if _TRACE_DOCUMENTS and (attrs is None or A.CONTEXT_DOCUMENTS not in attrs):
        trace_id = otel_trace.get_current_span().get_span_context().trace_id
        docs = _TRACE_DOCUMENTS.get(trace_id)
        if docs is not None:
            attrs = dict(attrs) if attrs else {}
            attrs[A.CONTEXT_DOCUMENTS] = docs
    return attrs


def _remember_trace_documents(trace_id: int, docs: str) -> None:
    with _trace_lock:
        _TRACE_DOCUMENTS.pop(trace_id, None)
        _TRACE_DOCUMENTS[trace_id] = docs
        while len(_TRACE_DOCUMENTS) > _TRACE_DOCUMENTS_MAX:
            del _TRACE_DOCUMENTS[next(iter(_TRACE_DOCUMENTS))]


def _decorate(make: Callable[[tuple[Any, ...], dict[str, Any]], Any], fn: F) -> F:
    """Wrap ``fn`` so each call runs inside a fresh context manager built by ``make``."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with make(args, kwargs) as manager:
                result = await fn(*args, **kwargs)
                _after(manager, result)
                return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make(args, kwargs) as manager:
            result = fn(*args, **kwargs)
            _after(manager, result)
            return result

    return wrapper  # type: ignore[return-value]


def _after(manager: Any, result: Any) -> None:
    if isinstance(manager, retrieval) and manager._documents is None and result is not None:
        manager.set_documents(result)


class context:  # noqa: N801 - used as ``with llmsight.context(...)``, reads like a function
    """Attach evaluation context to every LLM span started inside the block (or decorated call)."""

    def __init__(
        self,
        documents: Iterable[Any] | None = None,
        ground_truth: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        tags: Iterable[str] | Mapping[str, Any] | None = None,
    ) -> None:
        self._values: Attributes = {}
        if documents is not None:
            self._values[A.CONTEXT_DOCUMENTS] = documents_json(documents)
        if ground_truth is not None:
            self._values[A.GROUND_TRUTH] = str(ground_truth)
        if session_id is not None:
            self._values[A.SESSION_ID] = str(session_id)
        if user_id is not None:
            self._values[A.USER_ID] = str(user_id)
        if tags is not None:
            value = dict(tags) if isinstance(tags, Mapping) else sorted(str(t) for t in tags)
            self._values[A.TAGS] = to_json(value, _max_length())
        self._tokens: list[contextvars.Token[Attributes | None]] = []

    def __enter__(self) -> context:
        parent = _CURRENT.get()
        merged = {**parent, **self._values} if parent else dict(self._values)
        self._tokens.append(_CURRENT.set(merged))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _CURRENT.reset(self._tokens.pop())

    def _fresh(self) -> context:
        """A new manager with the same (already serialised) values: one per decorated call."""
        twin = context.__new__(context)
        twin._values = self._values
        twin._tokens = []
        return twin

    def __call__(self, fn: F) -> F:
        return _decorate(lambda args, kwargs: self._fresh(), fn)


class retrieval:  # noqa: N801 - used as ``with llmsight.retrieval(...)`` and ``@llmsight.retrieval(...)``
    """Record a retrieval step as a GenAI ``retrieval`` span; its documents become the LLM calls' context.

    As a decorator, ``query`` defaults to the first string argument and ``documents`` to the return
    value. Inside a ``with`` block, :meth:`set_documents` records documents found in the block.
    """

    def __init__(
        self, query: str | None = None, documents: Iterable[Any] | None = None, data_source: str | None = None
    ) -> None:
        self._query = query
        self._documents = documents
        self._data_source = data_source
        self._span: Any = None
        self._otel_token: object | None = None
        self._ctx_token: contextvars.Token[Attributes | None] | None = None
        self._docs_json: str | None = None

    def set_documents(self, documents: Iterable[Any]) -> None:
        try:
            self._documents = documents = list(documents)
            self._docs_json = documents_json(documents)
            if self._ctx_token is not None:
                _CURRENT.reset(self._ctx_token)
            parent = _CURRENT.get()
            self._ctx_token = _CURRENT.set({**(parent or {}), A.CONTEXT_DOCUMENTS: self._docs_json})
        except Exception:
            report_internal_error("retrieval.set_documents")

    def __enter__(self) -> retrieval:
        try:
            name = f"retrieval {self._data_source}" if self._data_source else "retrieval"
            attrs: Attributes = {A.OPERATION: "retrieval"}
            if self._data_source:
                attrs[A.DATA_SOURCE_ID] = self._data_source
            self._span = _tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
            self._otel_token = otel_context.attach(otel_trace.set_span_in_context(self._span))
        except Exception:
            report_internal_error("retrieval.enter")
        if self._documents is not None:
            self.set_documents(self._documents)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._ctx_token is not None:
                _CURRENT.reset(self._ctx_token)
                self._ctx_token = None
            if self._otel_token is not None:
                otel_context.detach(self._otel_token)  # type: ignore[arg-type]
                self._otel_token = None
            span = self._span
            if span is None:
                return
            if _capture():
                if self._query is not None:
                    span.set_attribute(A.RETRIEVAL_QUERY, str(self._query))
                if self._docs_json is not None:
                    span.set_attribute(A.RETRIEVAL_DOCUMENTS, self._docs_json)
            if exc is not None:
                span.record_exception(exc)
                span.set_attribute(A.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.end()
            if self._docs_json is not None:
                _remember_trace_documents(span.get_span_context().trace_id, self._docs_json)
        except Exception:
            report_internal_error("retrieval.exit")

    def __call__(self, fn: F) -> F:
        def make(args: tuple[Any, ...], kwargs: dict[str, Any]) -> retrieval:
            query = self._query
            if query is None:
                query = kwargs.get("query")
                if query is None:
                    query = next((a for a in args if isinstance(a, str)), None)
            return retrieval(query, self._documents, self._data_source)

        return _decorate(make, fn)


class trace:  # noqa: N801 - used as ``@llmsight.trace("step")`` and ``with llmsight.trace("step")``
    """A span for one of the app's own steps, so its LLM calls and retrievals share one trace."""

    def __init__(self, name: str | Callable[..., Any] | None = None, **attributes: Any) -> None:
        self._fn: Callable[..., Any] | None = None
        if callable(name):  # bare ``@llmsight.trace``
            self._fn, name = name, None
        self._name = name
        self._attributes = attributes
        self._manager: Any = None

    def __enter__(self) -> Any:
        self._manager = _tracer().start_as_current_span(
            self._name or "llmsight.step", kind=SpanKind.INTERNAL, attributes=self._attributes or None
        )
        return self._manager.__enter__()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        manager, self._manager = self._manager, None
        if exc is not None:
            span = otel_trace.get_current_span()
            span.set_attribute(A.ERROR_TYPE, type(exc).__qualname__)
        manager.__exit__(exc_type, exc, tb)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._fn is not None:  # bare decorator: this is the decorated function being called
            return self._wrapped()(*args, **kwargs)
        fn = args[0]
        return self._wrap(fn)

    def _wrapped(self) -> Callable[..., Any]:
        if not hasattr(self, "_cached"):
            assert self._fn is not None
            self._cached = self._wrap(self._fn)
        return self._cached

    def _wrap(self, fn: F) -> F:
        name = self._name or getattr(fn, "__qualname__", None) or "llmsight.step"
        attributes = self._attributes
        return _decorate(lambda args, kwargs: trace(name, **attributes), fn)


def bind_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` later (in another thread) inside a copy of the current context: llmsight's and OTel's."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: Any, **kwargs: Any) -> Any:
        # A copy per call: one Context object cannot be entered by two threads at once.
        return ctx.copy().run(fn, *args, **kwargs)

    return bound
