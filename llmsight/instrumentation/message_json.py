"""Serialisation of convention messages to attribute JSON: the string-building fast paths for plain-text
chat messages and the truncation that keeps an oversized value under the cap as valid JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from llmsight.instrumentation.messages import Redact, _decode, _encode, chat_input_messages, chat_output_messages

_encode_str: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]

# Prefixes of the common case (a plain-text message) so it is written as text, not built as dicts.
_TEXT_PREFIX = {
    role: '{"role":"' + role + '","parts":[{"type":"text","content":'
    for role in ("system", "user", "assistant", "developer")
}

TRUNCATION_MARKER = "…[truncated by llmsight]"


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
