"""Wrappers around the OpenAI client's resource methods; imported only when ``openai`` is installed.

Every wrapper follows one shape: build the request attributes (guarded), call the original exactly
once with the app's arguments, then record the response (guarded). Any llmsight failure is logged
once and the call goes through untraced; the app's own result or exception is returned unchanged.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wrapt
from openai._constants import RAW_RESPONSE_HEADER
from openai._models import BaseModel
from opentelemetry.trace import NonRecordingSpan, SpanKind

from llmsight.instrumentation import attributes as A
from llmsight.instrumentation import config
from llmsight.instrumentation import openai_attributes as OA
from llmsight.instrumentation.context import current_attributes
from llmsight.instrumentation.fast_context import attach_span, detach
from llmsight.instrumentation.safety import report_internal_error
from llmsight.instrumentation.spans import Invocation, Respond
from llmsight.instrumentation.streams import (
    USAGE_UNASKED,
    AsyncTracedStream,
    ChatAccumulator,
    ResponsesAccumulator,
    TracedStream,
)

_CLIENT = SpanKind.CLIENT
_time_ns = time.time_ns


# --- one spec per wrapped operation ----------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str  # gen_ai.operation.name
    request: Callable[[bool, Any, int, dict[str, Any], dict[str, Any]], None]
    response: Callable[[Invocation, Any, dict[str, Any]], None]
    accumulator: Callable[[Invocation], Any] | None  # None: this operation cannot stream
    usage_option: bool  # the API takes stream_options.include_usage
    # Deferred path: what to take from the response now, and how to write it on the export thread,
    # instead of keeping the response alive until then (embeddings: the vectors are most of the
    # memory and the attributes cost nothing to read). None: the response is read on export.
    keep: tuple[Callable[[Any], Any], Respond] | None = None


CHAT = Operation("chat", OA.chat_request, OA.chat_response_attributes, ChatAccumulator, True)
RESPONSES = Operation("chat", OA.responses_request, OA.responses_response_attributes, ResponsesAccumulator, False)
COMPLETIONS = Operation(
    "text_completion",
    OA.completion_request,
    OA.completion_response_attributes,
    lambda inv: ChatAccumulator(inv, legacy=True),
    True,
)
EMBEDDINGS = Operation(
    "embeddings",
    OA.embeddings_request,
    OA.embeddings_response_attributes,
    None,
    False,
    (OA.embeddings_response_facts, OA.embeddings_attributes_from_facts),
)


def _begin(
    op: Operation, settings: config.Settings, instance: Any, kwargs: dict[str, Any]
) -> tuple[Invocation, dict[str, Any], bool, str | None]:
    """Start the span. Returns the invocation, the kwargs to call with, stream flag, raw-header mode."""
    _, provider, host, port, official, _ = OA.client_info(instance._client)
    model = kwargs.get("model")
    if type(model) is not str:
        model = str(model) if OA.given(model) else ""
    attrs: dict[str, Any] = {
        A.OPERATION: op.name,
        A.PROVIDER: provider,
        A.REQUEST_MODEL: model,
        A.SERVER_ADDRESS: host,
        A.SERVER_PORT: port,
    }
    stream = kwargs.get("stream") is True and op.accumulator is not None
    capture = settings.capture_content
    context_attrs = current_attributes()
    deferred = settings.deferred_spans
    if deferred is not None and (deferred.processor._span_processors is deferred.untouched or deferred.usable()):
        late = None  # built on the export thread (deferred_spans), from a snapshot taken below
    else:
        # Built by us (plain values), set with the response in one step that skips SDK re-validation.
        late = {}
        OA.request_params(kwargs, late)
        if stream:
            late[A.REQUEST_STREAM] = True
        op.request(capture, settings.redact, settings.max_content_length, kwargs, late)
        if context_attrs:
            late.update(context_attrs)

    extra_headers = kwargs.get("extra_headers")
    raw_mode = extra_headers.get(RAW_RESPONSE_HEADER) if extra_headers else None

    call_kwargs = kwargs
    hide_usage = False
    probe = None
    if stream and op.usage_option:
        inject = settings.stream_usage if settings.stream_usage is not None else official
        options = kwargs.get("stream_options")
        if inject and not (isinstance(options, dict) and options.get("include_usage")):
            key = (host, port)
            # OpenAI's own endpoints send the usage chunk only when asked (documented); elsewhere it is
            # unknown until one stream there was seen unchanged.
            habit = USAGE_UNASKED.get(key, False if official else None)
            if raw_mode is not None or habit is None:
                # Never changed, so it shows what the server sends unasked (streams.USAGE_UNASKED). On a
                # server not yet seen, a usage chunk after an injected include_usage could be the server's
                # own (some send it always) and hiding it would take it from the app: this stream is sent
                # as the app wrote it, and the next ones get include_usage if it brought no usage.
                probe = key
            elif not habit:
                call_kwargs = dict(kwargs)
                call_kwargs["stream_options"] = (
                    {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
                )
                hide_usage = True
            # else: the server is known to send usage unasked; the chunk is the app's, nothing to add

    start_ns = _time_ns()
    name = f"{op.name} {model}" if model else op.name
    if late is None:
        span = deferred.start(name, _CLIENT, attrs, start_ns)
        # Unless the parent's sampling dropped the span, what the export thread builds it from.
        request = None if type(span) is NonRecordingSpan else (
            OA.deferred_request, op, OA.snapshot(kwargs), stream, context_attrs
        )
        inv = Invocation(span, capture, settings.redact, settings.max_content_length, start_ns, None, request)
    else:
        fast = settings.fast_spans
        if fast is not None and fast.usable():
            span = fast.start(name, _CLIENT, attrs, start_ns)
        else:
            span = settings.tracer.start_span(name, kind=_CLIENT, attributes=attrs, start_time=start_ns)
        inv = Invocation(span, capture, settings.redact, settings.max_content_length, start_ns, late)
    if stream:
        inv.hide_usage_chunk = hide_usage
        inv.usage_probe = probe
    return inv, call_kwargs, stream, raw_mode


def _complete(op: Operation, inv: Invocation, result: Any, stream: bool, raw_mode: str | None, is_async: bool) -> Any:
    """Record the result and hand back what the app must receive (the same object, or its proxy)."""
    try:
        if raw_mode is None and not stream and inv.request is not None and op.keep is None:
            # The usual call on the deferred path: the response is read on the export thread.
            inv.finish(op.response if isinstance(result, BaseModel) else None, result)
            return result
        if raw_mode is not None:
            if raw_mode != "true":  # with_streaming_response: the body is the app's to read, lazily
                inv.end(None)
                return result
            parsed = result.parse()
            if stream:
                proxy = (AsyncTracedStream if is_async else TracedStream)(parsed, inv, op.accumulator(inv))
                result._parsed_by_type[result._cast_to] = proxy
                return result
            _respond(op, inv, parsed)
            return result
        if stream:
            return (AsyncTracedStream if is_async else TracedStream)(result, inv, op.accumulator(inv))
        _respond(op, inv, result)
        return result
    except Exception:
        report_internal_error(f"{op.name}.response")
        with contextlib.suppress(Exception):
            inv.end(None)
        return result


def _respond(op: Operation, inv: Invocation, response: Any) -> None:
    if not isinstance(response, BaseModel):  # an empty 200 parses to "": nothing to read, the request is kept
        inv.end(None)
    elif inv.request is not None and op.keep is not None:
        take, write = op.keep
        inv.finish(write, take(response))
    else:
        inv.finish(op.response, response)


def sync_wrapper(op: Operation) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = config.SETTINGS
        if settings is None:
            return wrapped(*args, **kwargs)
        try:
            inv, call_kwargs, stream, raw_mode = _begin(op, settings, instance, kwargs)
            token = attach_span(inv.span)
        except Exception:
            report_internal_error(f"{op.name}.request")
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **call_kwargs)
        except BaseException as exc:
            detach(token)
            inv.fail(exc)
            raise
        detach(token)
        return _complete(op, inv, result, stream, raw_mode, False)

    return wrapper


def async_wrapper(op: Operation) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = config.SETTINGS
        if settings is None:
            return await wrapped(*args, **kwargs)
        try:
            inv, call_kwargs, stream, raw_mode = _begin(op, settings, instance, kwargs)
            token = attach_span(inv.span)
        except Exception:
            report_internal_error(f"{op.name}.request")
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **call_kwargs)
        except BaseException as exc:
            detach(token)
            inv.fail(exc)
            raise
        detach(token)
        return _complete(op, inv, result, stream, raw_mode, True)

    return wrapper


def _helper_close_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``ChatCompletionStream.close`` closes the HTTP response directly; end our span with it."""
    try:
        return wrapped(*args, **kwargs)
    finally:
        raw = getattr(instance, "_raw_stream", None)
        if isinstance(raw, (TracedStream, AsyncTracedStream)):
            raw._llmsight_closed()


async def _async_helper_close_wrapper(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        raw = getattr(instance, "_raw_stream", None)
        if isinstance(raw, (TracedStream, AsyncTracedStream)):
            raw._llmsight_closed()


# (module, attribute path, wrapper) for everything patched.
TARGETS: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("openai.resources.chat.completions.completions", "Completions.create", sync_wrapper(CHAT)),
    ("openai.resources.chat.completions.completions", "Completions.parse", sync_wrapper(CHAT)),
    ("openai.resources.chat.completions.completions", "AsyncCompletions.create", async_wrapper(CHAT)),
    ("openai.resources.chat.completions.completions", "AsyncCompletions.parse", async_wrapper(CHAT)),
    ("openai.resources.responses.responses", "Responses.create", sync_wrapper(RESPONSES)),
    ("openai.resources.responses.responses", "Responses.parse", sync_wrapper(RESPONSES)),
    ("openai.resources.responses.responses", "AsyncResponses.create", async_wrapper(RESPONSES)),
    ("openai.resources.responses.responses", "AsyncResponses.parse", async_wrapper(RESPONSES)),
    ("openai.resources.completions", "Completions.create", sync_wrapper(COMPLETIONS)),
    ("openai.resources.completions", "AsyncCompletions.create", async_wrapper(COMPLETIONS)),
    ("openai.resources.embeddings", "Embeddings.create", sync_wrapper(EMBEDDINGS)),
    ("openai.resources.embeddings", "AsyncEmbeddings.create", async_wrapper(EMBEDDINGS)),
    ("openai.lib.streaming.chat._completions", "ChatCompletionStream.close", _helper_close_wrapper),
    ("openai.lib.streaming.chat._completions", "AsyncChatCompletionStream.close", _async_helper_close_wrapper),
    ("openai.lib.streaming.responses._responses", "ResponseStream.close", _helper_close_wrapper),
    ("openai.lib.streaming.responses._responses", "AsyncResponseStream.close", _async_helper_close_wrapper),
)

_ORIGINALS: list[tuple[Any, str, Any]] = []


def patch() -> None:
    """Wrap every target once; a second call finds them patched and does nothing."""
    if _ORIGINALS:
        return
    import importlib

    for module_name, path, wrapper in TARGETS:
        try:
            module = importlib.import_module(module_name)
            owner_name, attr = path.rsplit(".", 1)
            owner = getattr(module, owner_name)
            original = owner.__dict__.get(attr)
            if original is None:
                continue
            wrapt.wrap_function_wrapper(owner, attr, wrapper)
            _ORIGINALS.append((owner, attr, original))
        except Exception:  # an older/newer client without this method: skip it, patch the rest
            report_internal_error(f"patch {module_name}.{path}")


def unpatch() -> None:
    while _ORIGINALS:
        owner, attr, original = _ORIGINALS.pop()
        setattr(owner, attr, original)
