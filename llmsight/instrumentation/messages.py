"""Conversion of OpenAI Chat Completions, Completions and Embeddings shapes (and retrieved documents) into
GenAI semantic-convention message dicts, plus the part builders the other API conversions share.

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
