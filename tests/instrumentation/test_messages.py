"""Message conversion, truncation and redaction, on plain data."""

from __future__ import annotations

import json

import pytest

from llmsight.instrumentation import message_json as MJ
from llmsight.instrumentation import messages as M
from llmsight.instrumentation.redaction import builtin_redactor, make_redactor


def test_fast_path_matches_the_general_conversion():
    msgs = [{"role": "system", "content": 'Quote "this" \\ and ünïcode\n'},
            {"role": "user", "content": "hi", "name": "bob"},
            {"role": "developer", "content": "dev"},
            {"role": "assistant", "content": [{"type": "text", "text": "part"}]}]
    assert json.loads(MJ.chat_input_json(msgs, None, 10_000)) == M.chat_input_messages(msgs, None)
    assert M.chat_input_messages(msgs, None)[1]["name"] == "bob"


def test_pydantic_messages_are_read_without_dumping():
    from openai.types.chat import ChatCompletionMessage

    previous = ChatCompletionMessage(role="assistant", content="earlier answer")
    out = json.loads(MJ.chat_input_json([previous, {"role": "user", "content": "and now?"}], None, 10_000))
    assert out[0] == {"role": "assistant", "parts": [{"type": "text", "content": "earlier answer"}]}


def test_unparseable_tool_arguments_stay_text():
    msgs = [{"role": "assistant", "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": "{oops"}}]}]
    assert M.chat_input_messages(msgs, None)[0]["parts"][0]["arguments"] == "{oops"


def test_truncation_keeps_structure_and_json():
    value = [{"role": "user", "parts": [{"type": "text", "content": "a" * 10_000}]},
             {"role": "assistant", "parts": [{"type": "text", "content": "b" * 10_000}]}]
    text = MJ.to_json(value, 1_000)
    assert len(text) <= 1_000
    parsed = json.loads(text)
    assert [m["role"] for m in parsed] == ["user", "assistant"]
    assert parsed[0]["parts"][0]["content"].endswith(MJ.TRUNCATION_MARKER)


def test_truncation_of_many_small_strings_falls_back_to_a_hard_cut():
    text = MJ.to_json(["x"] * 5_000, 200)
    assert len(text) <= 200 and text.endswith(MJ.TRUNCATION_MARKER)


def test_documents_are_normalised():
    class Doc:
        page_content = "lc text"
        metadata = {"id": "d1"}

    out = M.normalize_documents(["plain", {"text": "t", "id": 3}, Doc(), 42])
    assert out == ["plain", {"content": "t", "id": "3"}, {"content": "lc text", "id": "d1"}, "42"]


@pytest.mark.parametrize(("text", "expected"), [
    ("write to a.b@c.io now", "write to [REDACTED_EMAIL] now"),
    ("card 4242-4242-4242-4242 ok", "card [REDACTED_CARD] ok"),
    ("card 4242-4242-4242-4241 ok", "card 4242-4242-4242-4241 ok"),  # fails Luhn: not a card
    ("key AKIAABCDEFGHIJKLMNOP", "key [REDACTED_API_KEY]"),
    ("key sk-abcdefghijklmnopqrstuv", "key [REDACTED_API_KEY]"),
    ("nothing to see", "nothing to see"),
])
def test_builtin_redactor(text, expected):
    assert builtin_redactor()(text) == expected


def test_redactor_spec_forms():
    assert make_redactor(None) is None and make_redactor(False) is None
    assert make_redactor(["email"])("x@y.org 4242424242424242") == "[REDACTED_EMAIL] 4242424242424242"
    assert make_redactor("card")("4242424242424242") == "[REDACTED_CARD]"
    with pytest.raises(ValueError):
        make_redactor(["nope"])
