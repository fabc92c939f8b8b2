"""Conversion of OpenAI request and response shapes into the GenAI semantic-convention message JSON.

Reads dict keys and pydantic attributes directly (never ``model_dump``) because this runs on every
call and pydantic serialisation would cost more than the rest of the instrumentation together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

Redact = Callable[[str], str] | None
Part = dict[str, Any]
Message = dict[str, Any]

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_decode = json.loads
_encode_str: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]

# Prefixes of the common case (a plain-text message) so it is written as text, not built as dicts.
_TEXT_PREFIX = {
    role: '{"role":"' + role + '","parts":[{"type":"text","content":'
    for role in ("system", "user", "assistant", "developer")
}

TRUNCATION_MARKER = "…[truncated by llmsight]"


def _get(obj: Any, key: str) -> Any:
    if type(obj) is dict:
        return obj.get(key)
    return getattr(obj, key, None)


def _text(content: str, redact: Redact) -> Part:
    return {"type": "text", "content": redact(content) if redact is not None else content}


def _arguments(raw: Any, redact: Redact) -> Any:
    """Tool-call arguments arrive as JSON text; the conventions want the object when it parses."""
    if not isinstance(raw, str):
        return raw
    if redact is not None:
        raw = redact(raw)
    try:
        return _decode(raw)
    except ValueError:
        return raw


def _data_uri_part(url: str, modality: str) -> Part:
    # Inline base64 media would blow the attribute cap on its own; keep its type, drop its bytes.
    mime = url[5 : url.find(";")] if ";" in url else ""
    return {"type": "blob", "modality": modality, "mime_type": mime, "content": ""}


def _content_parts(content: Any, redact: Redact) -> list[Part]:
    """Chat or Responses content: a string, or a list of typed parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content, redact)]
    parts: list[Part] = []
    for item in content:
        kind = _get(item, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append(_text(_get(item, "text") or "", redact))
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": _get(item, "refusal") or ""})
        elif kind == "image_url":
            url = _get(_get(item, "image_url") or {}, "url") or ""
            if url.startswith("data:"):
                parts.append(_data_uri_part(url, "image"))
            else:
                parts.append({"type": "uri", "modality": "image", "uri": url})
        elif kind == "input_image":
            url = _get(item, "image_url") or ""
            if url.startswith("data:"):
                parts.append(_data_uri_part(url, "image"))
            elif url:
                parts.append({"type": "uri", "modality": "image", "uri": url})
            else:
                parts.append({"type": "file", "modality": "image", "file_id": _get(item, "file_id")})
        elif kind == "input_audio":
            fmt = _get(_get(item, "input_audio") or {}, "format") or ""
            parts.append({"type": "blob", "modality": "audio", "mime_type": f"audio/{fmt}", "content": ""})
        elif kind in ("file", "input_file"):
            file = _get(item, "file") or item
            parts.append({"type": "file", "file_id": _get(file, "file_id"), "name": _get(file, "filename")})
        else:
            parts.append({"type": str(kind)})
    return parts


def _tool_call_parts(tool_calls: Iterable[Any], redact: Redact) -> list[Part]:
    parts: list[Part] = []
    for call in tool_calls:
        function = _get(call, "function")
        if function is not None:
            name, arguments = _get(function, "name"), _get(function, "arguments")
        else:  # custom tools carry free-form input
            custom = _get(call, "custom")
            name, arguments = _get(custom, "name"), _get(custom, "input")
        parts.append(
            {"type": "tool_call", "id": _get(call, "id"), "name": name, "arguments": _arguments(arguments, redact)}
        )
    return parts


def _flatten_text(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content
    try:
        return "".join(_get(p, "text") or "" for p in content)
    except TypeError:
        return str(content)


def chat_input_messages(messages: Iterable[Any], redact: Redact) -> list[Message]:
    """Chat Completions ``messages=`` as convention messages (system messages stay in the history)."""
    out: list[Message] = []
    for msg in messages:
        role = _get(msg, "role")
        if role == "tool":
            response = _flatten_text(_get(msg, "content"))
            if redact is not None and isinstance(response, str):
                response = redact(response)
            out.append(
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": _get(msg, "tool_call_id"), "response": response}],
                }
            )
            continue
        if role == "function":
            response = _flatten_text(_get(msg, "content"))
            if redact is not None and isinstance(response, str):
                response = redact(response)
            out.append(
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": _get(msg, "name"), "response": response}],
                }
            )
            continue
        parts = _content_parts(_get(msg, "content"), redact)
        if role == "assistant":
            tool_calls = _get(msg, "tool_calls")
            if tool_calls:
                parts.extend(_tool_call_parts(tool_calls, redact))
            function_call = _get(msg, "function_call")
            if function_call:
                parts.append(
                    {
                        "type": "tool_call",
                        "id": None,
                        "name": _get(function_call, "name"),
                        "arguments": _arguments(_get(function_call, "arguments"), redact),
                    }
                )
        message: Message = {"role": role, "parts": parts}
        name = _get(msg, "name")
        if name:
            message["name"] = name
        out.append(message)
    return out


def chat_input_json(messages: Iterable[Any], redact: Redact, max_length: int) -> str:
    """``chat_input_messages`` serialised; plain-text dict messages take a string-building fast path."""
    pieces: list[str] = []
    for msg in messages:
        if type(msg) is dict and len(msg) == 2:
            content = msg.get("content")
            prefix = _TEXT_PREFIX.get(msg.get("role"))  # type: ignore[arg-type]
            if prefix is not None and type(content) is str:
                if redact is not None:
                    content = redact(content)
                pieces.append(prefix + _encode_str(content) + "}]}")
                continue
        pieces.append(_encode(chat_input_messages((msg,), redact)[0]))
    text = "[" + ",".join(pieces) + "]"
    if len(text) <= max_length:
        return text
    return _truncate(_decode(text), text, max_length)


def chat_output_json(choices: Iterable[Any], redact: Redact, max_length: int) -> str:
    """``chat_output_messages`` serialised, with the same fast path for plain-text answers."""
    pieces: list[str] = []
    for choice in choices:
        message = choice.message
        if not hasattr(message, "content"):  # a non-conforming server; record the finish reason only
            pieces.append(_encode({"role": "assistant", "parts": [], "finish_reason": choice.finish_reason or ""}))
            continue
        content = message.content
        if (
            type(content) is str
            and not message.tool_calls
            and not getattr(message, "refusal", None)
            and not getattr(message, "function_call", None)
        ):
            if redact is not None:
                content = redact(content)
            reason = choice.finish_reason
            pieces.append(
                '{"role":"assistant","parts":[{"type":"text","content":'
                + _encode_str(content)
                + '}],"finish_reason":'
                + _encode_str(reason if type(reason) is str else "")
                + "}"
            )
        else:
            pieces.append(_encode(chat_output_messages((choice,), redact)[0]))
    text = "[" + ",".join(pieces) + "]"
    if len(text) <= max_length:
        return text
    return _truncate(_decode(text), text, max_length)


def chat_output_messages(choices: Iterable[Any], redact: Redact) -> list[Message]:
    """``ChatCompletion.choices`` as convention output messages."""
    out: list[Message] = []
    for choice in choices:
        message = choice.message
        parts: list[Part] = []
        if not hasattr(message, "content"):  # None, or the raw JSON value of a mistyped field
            out.append({"role": "assistant", "parts": parts, "finish_reason": choice.finish_reason or ""})
            continue
        content = message.content
        if content:
            parts.append(_text(content, redact))
        refusal = getattr(message, "refusal", None)
        if refusal:
            parts.append({"type": "refusal", "content": refusal})
        tool_calls = message.tool_calls
        if tool_calls:
            parts.extend(_tool_call_parts(tool_calls, redact))
        function_call = getattr(message, "function_call", None)
        if function_call:
            parts.append(
                {
                    "type": "tool_call",
                    "id": None,
                    "name": function_call.name,
                    "arguments": _arguments(function_call.arguments, redact),
                }
            )
        out.append({"role": message.role or "assistant", "parts": parts, "finish_reason": choice.finish_reason or ""})
    return out


def responses_input_messages(input_value: Any, redact: Redact) -> list[Message]:
    """Responses API ``input=``: a string or a list of items (messages, tool calls, tool outputs)."""
    if input_value is None:
        return []
    if isinstance(input_value, str):
        return [{"role": "user", "parts": [_text(input_value, redact)]}]
    out: list[Message] = []
    for item in input_value:
        kind = _get(item, "type")
        role = _get(item, "role")
        if kind == "function_call" or kind == "custom_tool_call":
            arguments = _get(item, "arguments") if kind == "function_call" else _get(item, "input")
            out.append(
                {
                    "role": "assistant",
                    "parts": [
                        {
                            "type": "tool_call",
                            "id": _get(item, "call_id"),
                            "name": _get(item, "name"),
                            "arguments": _arguments(arguments, redact),
                        }
                    ],
                }
            )
        elif kind == "function_call_output" or kind == "custom_tool_call_output":
            response = _flatten_text(_get(item, "output"))
            if redact is not None and isinstance(response, str):
                response = redact(response)
            out.append(
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": _get(item, "call_id"), "response": response}],
                }
            )
        elif kind == "reasoning":
            out.append({"role": "assistant", "parts": [_reasoning_part(item, redact)]})
        elif role is not None:
            out.append({"role": role, "parts": _content_parts(_get(item, "content"), redact)})
        else:
            out.append({"role": "user", "parts": [{"type": str(kind)}]})
    return out


def _reasoning_part(item: Any, redact: Redact) -> Part:
    summary = _get(item, "summary") or []
    text = "\n".join(_get(s, "text") or "" for s in summary)
    return {"type": "reasoning", "content": redact(text) if redact is not None else text}


def system_instructions(instructions: Any, redact: Redact) -> list[Part] | None:
    """Responses API ``instructions=`` (given apart from the history, so it goes to its own attribute)."""
    if not instructions:
        return None
    if isinstance(instructions, str):
        return [_text(instructions, redact)]
    parts: list[Part] = []
    for msg in responses_input_messages(instructions, redact):
        parts.extend(msg["parts"])
    return parts


_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_finish_reason(response: Any, has_tool_call: bool) -> str:
    status = getattr(response, "status", None)
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None) if details is not None else None
        return _INCOMPLETE_REASONS.get(reason or "", reason or "incomplete")
    if status == "failed":
        return "error"
    return "tool_call" if has_tool_call else "stop"


def output_items(response: Any) -> list[Any]:
    """``Response.output`` items that are objects. The client does not validate responses, so the field
    is ``None`` when the body lacks it and keeps the raw JSON value (str, dict) when it is mistyped."""
    output = getattr(response, "output", None)
    if type(output) is not list:
        return []
    return [item for item in output if hasattr(item, "type")]


def responses_output_messages(response: Any, redact: Redact) -> tuple[list[Message], str]:
    """``Response.output`` items folded into one assistant message, plus its finish reason."""
    parts: list[Part] = []
    has_tool_call = False
    for item in output_items(response):
        kind = item.type
        if kind == "message":
            parts.extend(_content_parts(item.content, redact))
        elif kind == "function_call":
            has_tool_call = True
            parts.append(
                {
                    "type": "tool_call",
                    "id": item.call_id,
                    "name": item.name,
                    "arguments": _arguments(item.arguments, redact),
                }
            )
        elif kind == "custom_tool_call":
            has_tool_call = True
            parts.append(
                {
                    "type": "tool_call",
                    "id": item.call_id,
                    "name": item.name,
                    "arguments": _arguments(item.input, redact),
                }
            )
        elif kind == "reasoning":
            parts.append(_reasoning_part(item, redact))
        else:
            parts.append({"type": "tool_call", "id": getattr(item, "id", None), "name": kind})
    reason = responses_finish_reason(response, has_tool_call)
    return [{"role": "assistant", "parts": parts, "finish_reason": reason}], reason


def completion_input_messages(prompt: Any, redact: Redact) -> list[Message]:
    """Legacy Completions ``prompt=``: one user message; token-id prompts are recorded as their length."""
    if isinstance(prompt, str):
        return [{"role": "user", "parts": [_text(prompt, redact)]}]
    parts: list[Part] = []
    for item in prompt or ():
        if isinstance(item, str):
            parts.append(_text(item, redact))
        else:
            parts.append({"type": "tokens", "count": len(item) if hasattr(item, "__len__") else 1})
    return [{"role": "user", "parts": parts}]


def embeddings_input_messages(value: Any, redact: Redact) -> list[Message]:
    """Embeddings ``input=``, recorded like a prompt so the call's input can be read and searched:
    one user message with a text part per input; token-id inputs are recorded as their length."""
    if isinstance(value, list) and value and all(type(v) is int for v in value):
        return [{"role": "user", "parts": [{"type": "tokens", "count": len(value)}]}]
    return completion_input_messages(value, redact)


def completion_output_messages(choices: Iterable[Any], redact: Redact) -> list[Message]:
    return [
        {"role": "assistant", "parts": [_text(c.text or "", redact)], "finish_reason": c.finish_reason or ""}
        for c in choices
    ]


def to_json(value: Any, max_length: int) -> str:
    """Serialise once; only an oversized value pays for truncation, and the result stays valid JSON."""
    text = _encode(value)
    if len(text) <= max_length:
        return text
    return _truncate(value, text, max_length)


def _shrink(value: Any, budget: int) -> Any:
    if isinstance(value, str):
        if len(value) > budget:
            return value[:budget] + TRUNCATION_MARKER
        return value
    if isinstance(value, dict):
        return {k: _shrink(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrink(v, budget) for v in value]
    return value


def _truncate(value: Any, text: str, max_length: int) -> str:
    # Shrink every long string to an equal share first, so the structure (roles, ids) survives.
    budget = max(16, max_length // 4)
    for _ in range(6):
        shrunk = _encode(_shrink(value, budget))
        if len(shrunk) <= max_length:
            return shrunk
        budget //= 2
    keep = max(0, max_length - len(TRUNCATION_MARKER))
    return text[:keep] + TRUNCATION_MARKER


def normalize_documents(documents: Iterable[Any]) -> list[Any]:
    """Documents as strings or ``{"id", "content"}`` objects (LangChain/LlamaIndex shapes understood)."""
    out: list[Any] = []
    for doc in documents:
        if isinstance(doc, str):
            out.append(doc)
        elif isinstance(doc, dict):
            content = doc.get("content", doc.get("text", doc.get("page_content")))
            entry: dict[str, Any] = {"content": content if content is not None else _encode(doc)}
            if doc.get("id") is not None:
                entry["id"] = str(doc["id"])
            if doc.get("score") is not None:
                entry["score"] = doc["score"]
            out.append(entry)
        else:
            content = getattr(doc, "page_content", None)
            if content is None:
                content = getattr(doc, "text", None)
            if content is None:
                out.append(str(doc))
                continue
            metadata = getattr(doc, "metadata", None) or {}
            doc_id = getattr(doc, "id", None) or (metadata.get("id") if isinstance(metadata, dict) else None)
            entry = {"content": content}
            if doc_id is not None:
                entry["id"] = str(doc_id)
            out.append(entry)
    return out
