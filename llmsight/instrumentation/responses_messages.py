"""Conversion of OpenAI Responses API input, instructions and output into GenAI semantic-convention
message dicts, kept apart because its item shapes (tool calls, outputs, reasoning) differ from Chat's.
"""

from __future__ import annotations

from typing import Any

from llmsight.instrumentation.messages import (
    Message,
    Part,
    Redact,
    _arguments,
    _content_parts,
    _flatten_text,
    _get,
    _text,
)


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
