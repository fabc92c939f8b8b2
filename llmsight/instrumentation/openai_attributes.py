"""The OpenAI client, request and response as GenAI attributes; imported only when ``openai`` is installed.

Used by both span paths: on the SDK path while the call runs, on the deferred path on the export
thread (``deferred_request``, from the request snapshot taken by ``snapshot``), so both paths
write the same attributes in the same order.
"""

from __future__ import annotations

from typing import Any

import openai
from openai._models import BaseModel
from openai._types import NotGiven, Omit

from llmsight.instrumentation import attributes as A
from llmsight.instrumentation import message_json as MJ
from llmsight.instrumentation import messages as M
from llmsight.instrumentation import responses_messages as RM
from llmsight.instrumentation.safety import report_internal_error
from llmsight.instrumentation.spans import Invocation, chat_usage, responses_usage

_SENTINELS = (Omit, NotGiven)


def given(value: Any) -> bool:
    return value is not None and not isinstance(value, _SENTINELS)


_AZURE_TYPES: tuple[type, ...] = tuple(
    t for t in (getattr(openai, "AzureOpenAI", None), getattr(openai, "AsyncAzureOpenAI", None)) if t
)


# --- per-client facts, computed once per (client, base_url) -------------------------------------

_CLIENT_INFO: dict[int, tuple[Any, str, str, int, bool, bool]] = {}


# Client classes whose ``base_url`` property only returns ``_configured_base_url``: read directly, as
# the property costs a function-level import per call in openai 2+ (the module-level client's reads
# ``openai.base_url`` first, so it is not one of them).
_PLAIN_BASE_URL: dict[type, bool] = {}
_KNOWN_BASE_URL_PROPERTIES = tuple(
    prop
    for prop in (getattr(getattr(openai, name, None), "base_url", None) for name in ("OpenAI", "AsyncOpenAI"))
    if isinstance(prop, property)
)


def _plain_base_url(client: Any) -> bool:
    cls = type(client)
    plain = _PLAIN_BASE_URL.get(cls)
    if plain is None:
        configured = client.__dict__.get("_configured_base_url")
        plain = getattr(cls, "base_url", None) in _KNOWN_BASE_URL_PROPERTIES and configured is not None
        plain = _PLAIN_BASE_URL[cls] = plain and client._base_url is configured
    return plain


def client_info(client: Any) -> tuple[Any, str, str, int, bool, bool]:
    """(base_url, provider, host, port, official_endpoint, plain_base_url) for a client; cached, base_url
    may change."""
    info = _CLIENT_INFO.get(id(client))
    if info is not None:
        base_url = client.__dict__.get("_configured_base_url") if info[5] else client._base_url
        if info[0] is base_url:
            return info
    plain = _plain_base_url(client)
    base_url = client.__dict__.get("_configured_base_url") if plain else client._base_url
    host = base_url.host or ""
    port = base_url.port or (443 if base_url.scheme == "https" else 80)
    azure = isinstance(client, _AZURE_TYPES) or host.endswith((".openai.azure.com", ".azure.com"))
    provider = A.PROVIDER_AZURE if azure else A.PROVIDER_OPENAI
    official = azure or host == "api.openai.com"
    info = (base_url, provider, host, port, official, plain)
    if len(_CLIENT_INFO) > 256:  # many short-lived clients: forget, recompute is cheap
        _CLIENT_INFO.clear()
    _CLIENT_INFO[id(client)] = info
    return info


# --- request side ----------------------------------------------------------------------------------


_PLAIN = (int, float, str, bool)


_PARAM_NAMES: dict[str, str] = dict(A.REQUEST_PARAMS)


def request_params(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
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


def chat_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    response_format = kwargs.get("response_format")
    if response_format is not None and not isinstance(response_format, _SENTINELS):
        kind = response_format.get("type") if isinstance(response_format, dict) else "json_schema"
        attrs[A.OUTPUT_TYPE] = "text" if kind == "text" else "json"
    if inv_capture:
        messages = kwargs.get("messages")
        if messages is not None:
            attrs[A.INPUT_MESSAGES] = MJ.chat_input_json(messages, redact, max_length)


def responses_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    reasoning = kwargs.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        attrs["openai.request.reasoning_effort"] = str(reasoning["effort"])
    conversation = kwargs.get("conversation")
    if given(conversation):
        attrs[A.CONVERSATION_ID] = str(conversation if isinstance(conversation, str) else conversation.get("id"))
    if inv_capture:
        input_value = kwargs.get("input")
        if given(input_value):
            attrs[A.INPUT_MESSAGES] = MJ.to_json(RM.responses_input_messages(input_value, redact), max_length)
        instructions = kwargs.get("instructions")
        if given(instructions):
            parts = RM.system_instructions(instructions, redact)
            if parts:
                attrs[A.SYSTEM_INSTRUCTIONS] = MJ.to_json(parts, max_length)


def completion_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    if inv_capture:
        prompt = kwargs.get("prompt")
        if given(prompt):
            attrs[A.INPUT_MESSAGES] = MJ.to_json(M.completion_input_messages(prompt, redact), max_length)


def embeddings_request(
    inv_capture: bool, redact: Any, max_length: int, kwargs: dict[str, Any], attrs: dict[str, Any]
) -> None:
    encoding = kwargs.get("encoding_format")
    if given(encoding):
        attrs[A.ENCODING_FORMATS] = (str(encoding),)
    dimensions = kwargs.get("dimensions")
    if type(dimensions) is int:
        attrs[A.EMBEDDING_DIMENSIONS] = dimensions
    if inv_capture:
        input_value = kwargs.get("input")
        if given(input_value):
            attrs[A.INPUT_MESSAGES] = MJ.to_json(M.embeddings_input_messages(input_value, redact), max_length)


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
        out[A.OUTPUT_MESSAGES] = MJ.chat_output_json(choices, inv.redact, inv.max_length)


def responses_response_attributes(inv: Invocation, response: Any, out: dict[str, Any]) -> None:
    _id_and_model(response, out)
    responses_usage(_usage(response), out)
    if inv.capture:
        output, reason = RM.responses_output_messages(response, inv.redact)
        out[A.OUTPUT_MESSAGES] = MJ.to_json(output, inv.max_length)
    else:
        kinds = (getattr(item, "type", None) for item in RM.output_items(response))
        has_tool = any(kind in ("function_call", "custom_tool_call") for kind in kinds)
        reason = RM.responses_finish_reason(response, has_tool)
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
        out[A.OUTPUT_MESSAGES] = MJ.to_json(M.completion_output_messages(choices, inv.redact), inv.max_length)


def embeddings_response_facts(response: Any) -> tuple[dict[str, Any], int | None]:
    """Everything the span needs from an embeddings response, without holding on to its vectors."""
    facts: dict[str, Any] = {}
    _id_and_model(response, facts)
    chat_usage(_usage(response), facts)
    data = _models(getattr(response, "data", None))
    embedding = getattr(data[0], "embedding", None) if data else None
    return facts, len(embedding) if isinstance(embedding, list) else None


def embeddings_attributes_from_facts(
    inv: Invocation, facts: tuple[dict[str, Any], int | None], out: dict[str, Any]
) -> None:
    out.update(facts[0])
    if facts[1] is not None and A.EMBEDDING_DIMENSIONS not in out:  # the request's dimensions= wins
        out[A.EMBEDDING_DIMENSIONS] = facts[1]


def embeddings_response_attributes(inv: Invocation, response: Any, out: dict[str, Any]) -> None:
    embeddings_attributes_from_facts(inv, embeddings_response_facts(response), out)


# --- the deferred path's request snapshot ----------------------------------------------------------

# Keyword arguments the request builders read that the app may change after the call returns (a
# conversation's ``messages`` list grows; a message dict is reused): copied, one level into lists.
_SNAPSHOT_KEYS = frozenset({"messages", "input", "prompt", "instructions", "stop", "reasoning", "conversation",
                            "response_format"})


def snapshot(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the request builders will read on the export thread, as it is now (same keys, same order)."""
    copy = kwargs.copy()
    for key, value in kwargs.items():
        kind = type(value)
        if kind is list and key in _SNAPSHOT_KEYS:
            try:
                copy[key] = list(map(dict.copy, value))  # the usual case: a list of message dicts
            except TypeError:
                copy[key] = [item.copy() if type(item) is dict else item for item in value]
        elif kind is dict and key in _SNAPSHOT_KEYS:
            copy[key] = value.copy()
    return copy


def deferred_request(inv: Invocation, op: Any, kwargs: dict[str, Any], stream: bool,
                     context_attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Export thread: the request-side late attributes, exactly as ``openai_wrappers._begin`` builds them."""
    late: dict[str, Any] = {}
    try:
        request_params(kwargs, late)
        if stream:
            late[A.REQUEST_STREAM] = True
        op.request(inv.capture, inv.redact, inv.max_length, kwargs, late)
    except Exception:  # the SDK path would have left this call untraced; here its span exists already
        report_internal_error(f"{op.name}.request", "its span is exported without what could not be built")
    if context_attrs:
        late.update(context_attrs)
    return late
