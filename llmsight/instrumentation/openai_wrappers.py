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

import openai
import wrapt
from openai._constants import RAW_RESPONSE_HEADER
from openai._models import BaseModel
from openai._types import NotGiven, Omit
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind

from llmsight.instrumentation import attributes as A
from llmsight.instrumentation import config
from llmsight.instrumentation import messages as M
from llmsight.instrumentation.context import current_attributes
from llmsight.instrumentation.safety import report_internal_error
from llmsight.instrumentation.spans import Invocation, chat_usage, responses_usage
from llmsight.instrumentation.streams import (
    USAGE_UNASKED,
    AsyncTracedStream,
    ChatAccumulator,
    ResponsesAccumulator,
    TracedStream,
)

_SENTINELS = (Omit, NotGiven)
_CLIENT = SpanKind.CLIENT
_set_span_in_context = otel_trace.set_span_in_context
_attach = otel_context.attach
_detach = otel_context.detach
_time_ns = time.time_ns

_AZURE_TYPES: tuple[type, ...] = tuple(
    t for t in (getattr(openai, "AzureOpenAI", None), getattr(openai, "AsyncAzureOpenAI", None)) if t
)


def _given(value: Any) -> bool:
    return value is not None and not isinstance(value, _SENTINELS)


# --- per-client facts, computed once per (client, base_url) -------------------------------------

_CLIENT_INFO: dict[int, tuple[Any, str, str, int, bool]] = {}


def _client_info(client: Any) -> tuple[Any, str, str, int, bool]:
    """(base_url, provider, host, port, official_endpoint) for a client; cached, base_url may change."""
    base_url = client._base_url
    info = _CLIENT_INFO.get(id(client))
    if info is not None and info[0] is base_url:
        return info
    host = base_url.host or ""
    port = base_url.port or (443 if base_url.scheme == "https" else 80)
    azure = isinstance(client, _AZURE_TYPES) or host.endswith((".openai.azure.com", ".azure.com"))
    provider = A.PROVIDER_AZURE if azure else A.PROVIDER_OPENAI
    official = azure or host == "api.openai.com"
    info = (base_url, provider, host, port, official)
    if len(_CLIENT_INFO) > 256:  # many short-lived clients: forget, recompute is cheap
        _CLIENT_INFO.clear()
    _CLIENT_INFO[id(client)] = info
    return info


# --- request side ----------------------------------------------------------------------------------


_PLAIN = (int, float, str, bool)


_PARAM_NAMES: dict[str, str] = dict(A.REQUEST_PARAMS)


def _request_params(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    # Walks the few kwargs the app passed rather than probing every known parameter. The values
    # join the unvalidated late attributes: only plain values pass, as themselves.
    names = _PARAM_NAMES
    for key, value in kwargs.items():
        name = names.get(key)
        if name is not None:
            if type(value) in _PLAIN:
                attrs[name] = value
        elif key == "stop" and value is not None and not isinstance(value, _SENTINELS):
            attrs["gen_ai.request.stop_sequences"] = (value,) if type(value) is str else tuple(map(str, value))


def _chat_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    response_format = kwargs.get("response_format")
    if response_format is not None and not isinstance(response_format, _SENTINELS):
        kind = response_format.get("type") if isinstance(response_format, dict) else "json_schema"
        attrs[A.OUTPUT_TYPE] = "text" if kind == "text" else "json"
    if inv_capture:
        messages = kwargs.get("messages")
        if messages is not None:
            attrs[A.INPUT_MESSAGES] = M.chat_input_json(messages, redact, max_length)


def _responses_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    reasoning = kwargs.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        attrs["openai.request.reasoning_effort"] = str(reasoning["effort"])
    conversation = kwargs.get("conversation")
    if _given(conversation):
        attrs[A.CONVERSATION_ID] = str(conversation if isinstance(conversation, str) else conversation.get("id"))
    if inv_capture:
        input_value = kwargs.get("input")
        if _given(input_value):
            attrs[A.INPUT_MESSAGES] = M.to_json(M.responses_input_messages(input_value, redact), max_length)
        instructions = kwargs.get("instructions")
        if _given(instructions):
            parts = M.system_instructions(instructions, redact)
            if parts:
                attrs[A.SYSTEM_INSTRUCTIONS] = M.to_json(parts, max_length)


def _completion_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    if inv_capture:
        prompt = kwargs.get("prompt")
        if _given(prompt):
            attrs[A.INPUT_MESSAGES] = M.to_json(M.completion_input_messages(prompt, redact), max_length)


def _embeddings_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    encoding = kwargs.get("encoding_format")
    if _given(encoding):
        attrs[A.ENCODING_FORMATS] = (str(encoding),)
    dimensions = kwargs.get("dimensions")
    if type(dimensions) is int:
        attrs[A.EMBEDDING_DIMENSIONS] = dimensions
    if inv_capture:
        input_value = kwargs.get("input")
        if _given(input_value):
            attrs[A.INPUT_MESSAGES] = M.to_json(M.embeddings_input_messages(input_value, redact), max_length)


# --- response side ---------------------------------------------------------------------------------


def _id_and_model(response: Any, out: dict[str, Any]) -> None:
    # Values go to the span unvalidated (spans.set_attributes): only real strings pass.
    response_id = getattr(response, "id", None)
    if type(response_id) is str:
        out[A.RESPONSE_ID] = response_id
    model = getattr(response, "model", None)
    if type(model) is str:
        out[A.RESPONSE_MODEL] = model
    tier = getattr(response, "service_tier", None)
    if type(tier) is str:
        out[A.OPENAI_SERVICE_TIER] = tier


def _models(value: Any) -> list[Any]:
    """The model objects in a list field of a response, or none.

    The client builds response objects without validating them (``construct``), so a 200 whose body
    lacks a field has it as ``None`` (``{"model": "gpt-4"}`` gives ``choices=None``) and a field of
    the wrong JSON type keeps the raw value (a str, a dict). Such a reply is still the app's valid
    result: llmsight records what the body has instead of failing on what it lacks.
    """
    if type(value) is not list:
        return []
    return [item for item in value if isinstance(item, BaseModel)]


def _finish_reasons(choices: list[Any]) -> tuple[str, ...]:
    return tuple(r if type(r) is str else "" for r in (getattr(c, "finish_reason", None) for c in choices))


def _usage(response: Any) -> Any:
    usage = getattr(response, "usage", None)
    return usage if isinstance(usage, BaseModel) else None


def chat_response_attributes(inv: Invocation, response: Any, out: dict[str, Any]) -> None:
    _id_and_model(response, out)
    chat_usage(_usage(response), out)
    raw_choices = getattr(response, "choices", None)
    if type(raw_choices) is not list:  # no choices in the body: no finish reasons or output to report
        return
    choices = _models(raw_choices)
    out[A.FINISH_REASONS] = _finish_reasons(choices)
    if inv.capture:
        out[A.OUTPUT_MESSAGES] = M.chat_output_json(choices, inv.redact, inv.max_length)


def responses_response_attributes(inv: Invocation, response: Any, out: dict[str, Any]) -> None:
    _id_and_model(response, out)
    responses_usage(_usage(response), out)
    if inv.capture:
        output, reason = M.responses_output_messages(response, inv.redact)
        out[A.OUTPUT_MESSAGES] = M.to_json(output, inv.max_length)
    else:
        kinds = (getattr(item, "type", None) for item in M.output_items(response))
        has_tool = any(kind in ("function_call", "custom_tool_call") for kind in kinds)
        reason = M.responses_finish_reason(response, has_tool)
    out[A.FINISH_REASONS] = (str(reason),)


def completion_response_attributes(inv: Invocation, response: Any, out: dict[str, Any]) -> None:
    _id_and_model(response, out)
    chat_usage(_usage(response), out)
    raw_choices = getattr(response, "choices", None)
    if type(raw_choices) is not list:
        return
    choices = _models(raw_choices)
    out[A.FINISH_REASONS] = _finish_reasons(choices)
    if inv.capture:
        out[A.OUTPUT_MESSAGES] = M.to_json(M.completion_output_messages(choices, inv.redact), inv.max_length)


def embeddings_response_attributes(inv: Invocation, response: Any, out: dict[str, Any]) -> None:
    _id_and_model(response, out)
    chat_usage(_usage(response), out)
    data = _models(getattr(response, "data", None))
    if data and A.EMBEDDING_DIMENSIONS not in out:
        embedding = getattr(data[0], "embedding", None)
        if isinstance(embedding, list):
            out[A.EMBEDDING_DIMENSIONS] = len(embedding)


# --- one spec per wrapped operation ----------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str  # gen_ai.operation.name
    request: Callable[[bool, Any, int, dict[str, Any], dict[str, Any]], None]
    response: Callable[[Invocation, Any, dict[str, Any]], None]
    accumulator: Callable[[Invocation], Any] | None  # None: this operation cannot stream
    usage_option: bool  # the API takes stream_options.include_usage


CHAT = Operation("chat", _chat_request, chat_response_attributes, ChatAccumulator, True)
RESPONSES = Operation("chat", _responses_request, responses_response_attributes, ResponsesAccumulator, False)
COMPLETIONS = Operation(
    "text_completion",
    _completion_request,
    completion_response_attributes,
    lambda inv: ChatAccumulator(inv, legacy=True),
    True,
)
EMBEDDINGS = Operation("embeddings", _embeddings_request, embeddings_response_attributes, None, False)


def _begin(
    op: Operation, settings: config.Settings, instance: Any, kwargs: dict[str, Any]
) -> tuple[Invocation, dict[str, Any], bool, str | None]:
    """Start the span. Returns the invocation, the kwargs to call with, stream flag, raw-header mode."""
    _, provider, host, port, official = _client_info(instance._client)
    model = kwargs.get("model")
    if type(model) is not str:
        model = str(model) if _given(model) else ""
    attrs: dict[str, Any] = {
        A.OPERATION: op.name,
        A.PROVIDER: provider,
        A.REQUEST_MODEL: model,
        A.SERVER_ADDRESS: host,
        A.SERVER_PORT: port,
    }
    stream = kwargs.get("stream") is True and op.accumulator is not None
    capture = settings.capture_content
    # Built by us (plain values), set with the response in one step that skips SDK re-validation.
    late: dict[str, Any] = {}
    _request_params(kwargs, late)
    if stream:
        late[A.REQUEST_STREAM] = True
    op.request(capture, settings.redact, settings.max_content_length, kwargs, late)
    context_attrs = current_attributes()
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
    fast = settings.fast_spans
    if fast is not None and fast.usable():
        span = fast.start(name, _CLIENT, attrs, start_ns)
    else:
        span = settings.tracer.start_span(name, kind=_CLIENT, attributes=attrs, start_time=start_ns)
    inv = Invocation(span, capture, settings.redact, settings.max_content_length, start_ns)
    inv.hide_usage_chunk = hide_usage
    inv.usage_probe = probe
    inv.late = late
    return inv, call_kwargs, stream, raw_mode


def _complete(op: Operation, inv: Invocation, result: Any, stream: bool, raw_mode: str | None, is_async: bool) -> Any:
    """Record the result and hand back what the app must receive (the same object, or its proxy)."""
    try:
        if raw_mode is not None:
            if raw_mode != "true":  # with_streaming_response: the body is the app's to read, lazily
                inv.end(None)
                return result
            parsed = result.parse()
            if stream:
                proxy = (AsyncTracedStream if is_async else TracedStream)(parsed, inv, op.accumulator(inv))
                result._parsed_by_type[result._cast_to] = proxy
                return result
            attrs: dict[str, Any] = inv.late
            if isinstance(parsed, BaseModel):
                op.response(inv, parsed, attrs)
            inv.end(attrs)
            return result
        if stream:
            return (AsyncTracedStream if is_async else TracedStream)(result, inv, op.accumulator(inv))
        attrs = inv.late
        if isinstance(result, BaseModel):  # an empty 200 parses to "": nothing to read, the request is kept
            op.response(inv, result, attrs)
        inv.end(attrs)
        return result
    except Exception:
        report_internal_error(f"{op.name}.response")
        with contextlib.suppress(Exception):
            inv.end(None)
        return result


def sync_wrapper(op: Operation) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = config.SETTINGS
        if settings is None:
            return wrapped(*args, **kwargs)
        try:
            inv, call_kwargs, stream, raw_mode = _begin(op, settings, instance, kwargs)
            token = _attach(_set_span_in_context(inv.span))
        except Exception:
            report_internal_error(f"{op.name}.request")
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **call_kwargs)
        except BaseException as exc:
            _detach(token)
            inv.fail(exc)
            raise
        _detach(token)
        return _complete(op, inv, result, stream, raw_mode, False)

    return wrapper


def async_wrapper(op: Operation) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = config.SETTINGS
        if settings is None:
            return await wrapped(*args, **kwargs)
        try:
            inv, call_kwargs, stream, raw_mode = _begin(op, settings, instance, kwargs)
            token = _attach(_set_span_in_context(inv.span))
        except Exception:
            report_internal_error(f"{op.name}.request")
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **call_kwargs)
        except BaseException as exc:
            _detach(token)
            inv.fail(exc)
            raise
        _detach(token)
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
