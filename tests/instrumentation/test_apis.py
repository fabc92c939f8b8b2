"""Responses, legacy Completions and Embeddings spans."""

from __future__ import annotations

import asyncio
import json

import pytest
from fake_openai import embeddings, responses
from pydantic import BaseModel

import llmsight

from .helpers import attr_json, only_span

pytestmark = pytest.mark.usefixtures("instrumented")


def test_responses_create(client, fake, exporter):
    fake.enqueue(responses("Bonjour", usage=(40, 2)))
    result = client.responses.create(
        model="gpt-5-mini",
        instructions="Answer in French.",
        input=[
            {"role": "user", "content": "Say hello"},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"x": 1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "found"},
        ],
        max_output_tokens=64,
        temperature=0.5,
        reasoning={"effort": "low"},
    )
    assert result.output_text == "Bonjour"
    span = only_span(exporter)
    a = span.attributes
    assert span.name == "chat gpt-5-mini"
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["openai.request.reasoning_effort"] == "low"
    assert a["gen_ai.usage.input_tokens"] == 40
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert attr_json(span, "gen_ai.system_instructions") == [{"type": "text", "content": "Answer in French."}]
    assert attr_json(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"x": 1}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "found"}]},
    ]
    assert attr_json(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Bonjour"}], "finish_reason": "stop"}
    ]


def test_responses_function_call_and_incomplete(client, fake, exporter):
    fake.enqueue(responses("", function_call={"call_id": "c2", "name": "f", "arguments": "{}"}, status="incomplete"))
    client.responses.create(model="m", input="go")
    span = only_span(exporter)
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("length",)
    parts = attr_json(span, "gen_ai.output.messages")[0]["parts"]
    assert parts == [{"type": "tool_call", "id": "c2", "name": "f", "arguments": {}}]


def test_async_responses(aclient, fake, exporter):
    result = asyncio.run(aclient.responses.create(model="m", input="ping"))
    assert result.output_text == "echo: ping"
    assert only_span(exporter).attributes["gen_ai.response.id"] == "resp_fake"


def test_legacy_completions(client, fake, exporter):
    result = client.completions.create(model="davinci-002", prompt="Say", max_tokens=5, stop="\n")
    assert result.choices[0].text == "echo: Say"
    span = only_span(exporter)
    assert span.name == "text_completion davinci-002"
    assert tuple(span.attributes["gen_ai.request.stop_sequences"]) == ("\n",)
    assert attr_json(span, "gen_ai.input.messages") == [{"role": "user", "parts": [{"type": "text", "content": "Say"}]}]
    assert span.attributes["gen_ai.usage.output_tokens"] == 4


def test_embeddings(client, fake, exporter):
    fake.enqueue(embeddings(dimensions=16, prompt_tokens=6))
    result = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float")
    assert len(result.data) == 2
    span = only_span(exporter)
    a = span.attributes
    assert span.name == "embeddings text-embedding-3-small"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] == 6
    assert a["gen_ai.embeddings.dimension.count"] == 16
    assert tuple(a["gen_ai.request.encoding_formats"]) == ("float",)
    assert attr_json(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}]}
    ]


def test_embeddings_input_is_recorded_like_a_prompt(provider, client, fake, exporter):
    """Token-id inputs are recorded as their length; content capture and its size cap apply as for chat."""
    client.embeddings.create(model="e", input=[1, 2, 3])
    client.embeddings.create(model="e", input=[[1, 2], [3]])
    client.embeddings.create(model="e", input="x" * 2000)
    tokens, batches, long = (attr_json(s, "gen_ai.input.messages") for s in exporter.get_finished_spans())
    assert tokens == [{"role": "user", "parts": [{"type": "tokens", "count": 3}]}]
    assert batches == [{"role": "user", "parts": [{"type": "tokens", "count": 2}, {"type": "tokens", "count": 1}]}]
    assert long[0]["parts"][0]["content"] == "x" * 2000

    llmsight.uninstrument()
    llmsight.instrument(tracer_provider=provider, max_content_length=500)
    exporter.clear()
    client.embeddings.create(model="e", input="x" * 2000)
    capped = only_span(exporter).attributes["gen_ai.input.messages"]
    assert len(capped) <= 500 and "truncated by llmsight" in json.loads(capped)[0]["parts"][0]["content"]

    llmsight.uninstrument()
    llmsight.instrument(tracer_provider=provider, capture_content=False)
    exporter.clear()
    client.embeddings.create(model="e", input="secret")
    assert "gen_ai.input.messages" not in only_span(exporter).attributes


def test_async_embeddings(aclient, fake, exporter):
    asyncio.run(aclient.embeddings.create(model="e", input="x"))
    assert only_span(exporter).attributes["gen_ai.usage.input_tokens"] == 3


class City(BaseModel):
    city: str


def test_responses_parse(client, fake, exporter):
    fake.enqueue(responses('{"city": "Paris"}'))
    result = client.responses.parse(model="m", input="capital of France?", text_format=City)
    assert result.output_parsed == City(city="Paris")
    assert only_span(exporter).attributes["gen_ai.usage.output_tokens"] == 9


def test_with_streaming_response_passes_through(client, fake, exporter):
    with client.chat.completions.with_streaming_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as response:
        assert response.parse().choices[0].message.content == "echo: hi"
    span = only_span(exporter)  # request side only: the body is the app's to read
    assert span.attributes["gen_ai.request.model"] == "m"


def test_module_level_client(fake, exporter, monkeypatch):
    import openai

    monkeypatch.setattr(openai, "api_key", "k")
    monkeypatch.setattr(openai, "base_url", fake.base_url)
    monkeypatch.setattr(openai, "_client", None)
    result = openai.chat.completions.create(model="m", messages=[{"role": "user", "content": "module"}])
    assert result.choices[0].message.content == "echo: module"
    assert only_span(exporter).attributes["gen_ai.response.id"] == "chatcmpl-fake"
