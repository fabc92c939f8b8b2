"""Chat Completions: span name, kind, semconv attributes and content for plain, tool and parse calls."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from fake_openai import chat
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from .helpers import attr_json, only_span

pytestmark = pytest.mark.usefixtures("instrumented")

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]


def test_chat_span_has_request_response_usage_and_content(client, fake, exporter):
    fake.enqueue(chat("Paris.", usage=(21, 3), cached_tokens=5, reasoning_tokens=2))
    result = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.3, top_p=0.9, max_tokens=50, seed=7,
        stop=["\n\n"], frequency_penalty=0.1, presence_penalty=0.2,
    )
    assert result.choices[0].message.content == "Paris."
    span = only_span(exporter)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = span.attributes
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == fake.port
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.seed"] == 7
    assert a["gen_ai.request.frequency_penalty"] == 0.1
    assert a["gen_ai.request.presence_penalty"] == 0.2
    assert tuple(a["gen_ai.request.stop_sequences"]) == ("\n\n",)
    assert a["gen_ai.response.id"] == "chatcmpl-fake"
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 21
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["gen_ai.usage.cache_read.input_tokens"] == 5
    assert a["gen_ai.usage.reasoning.output_tokens"] == 2
    assert "gen_ai.request.stream" not in a
    assert attr_json(span, "gen_ai.input.messages") == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]},
    ]
    assert attr_json(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}
    ]


def test_span_attributes_set_at_start_are_visible_to_samplers(client, fake, provider, exporter):
    seen: list[dict] = []

    class Recorder:
        def on_start(self, span, parent_context=None):
            seen.append(dict(span.attributes))

        def on_end(self, span):
            pass

        def shutdown(self):
            pass

        def force_flush(self, timeout_millis=30000):
            return True

    provider.add_span_processor(Recorder())
    client.chat.completions.create(model="m1", messages=MESSAGES)
    assert seen and seen[0]["gen_ai.request.model"] == "m1"
    assert seen[0]["gen_ai.operation.name"] == "chat"
    assert seen[0]["server.address"] == "127.0.0.1"


def test_tool_calls_and_tool_results_in_messages(client, fake, exporter):
    fake.enqueue(chat(None, tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]))
    history = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_0", "content": "sunny, 25C"},
    ]
    result = client.chat.completions.create(model="m", messages=history, tools=[{
        "type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
    assert result.choices[0].message.tool_calls[0].function.name == "get_weather"
    span = only_span(exporter)
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    inputs = attr_json(span, "gen_ai.input.messages")
    assert inputs[1] == {"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_0", "name": "get_weather", "arguments": {"city": "Rome"}}]}
    assert inputs[2] == {"role": "tool", "parts": [
        {"type": "tool_call_response", "id": "call_0", "response": "sunny, 25C"}]}
    outputs = attr_json(span, "gen_ai.output.messages")
    assert outputs == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}]}]


def test_multipart_user_content(client, fake, exporter):
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]}])
    parts = attr_json(only_span(exporter), "gen_ai.input.messages")[0]["parts"]
    assert parts[0] == {"type": "text", "content": "Describe"}
    assert parts[1] == {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"}
    assert parts[2]["type"] == "blob" and parts[2]["mime_type"] == "image/png"


class Capital(BaseModel):
    city: str


def test_parse_is_traced(client, fake, exporter):
    fake.enqueue(chat(json.dumps({"city": "Paris"})))
    result = client.chat.completions.parse(model="m", messages=MESSAGES, response_format=Capital)
    assert result.choices[0].message.parsed == Capital(city="Paris")
    span = only_span(exporter)
    assert span.attributes["gen_ai.output.type"] == "json"
    assert attr_json(span, "gen_ai.output.messages")[0]["parts"][0]["content"] == '{"city": "Paris"}'


def test_async_client(aclient, fake, exporter):
    async def run():
        return await aclient.chat.completions.create(model="m", messages=MESSAGES)

    result = asyncio.run(run())
    assert result.choices[0].message.content == "echo: What is the capital of France?"
    span = only_span(exporter)
    assert span.attributes["gen_ai.usage.output_tokens"] == 7


def test_with_raw_response(client, fake, exporter):
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["content-type"].startswith("application/json")
    completion = raw.parse()
    assert completion.choices[0].message.content.startswith("echo:")
    assert raw.parse() is completion
    span = only_span(exporter)
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-fake"


def test_azure_client_reports_azure_provider(fake, exporter):
    client = openai.AzureOpenAI(azure_endpoint=fake.base_url.removesuffix("/v1"), api_key="k",
                                api_version="2024-10-21", max_retries=0)
    client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    span = only_span(exporter)
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert "/openai/deployments/my-deployment/chat/completions" in fake.last_request.path


def test_span_is_current_during_call_so_children_nest(client, fake, provider, exporter):
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as parent:
        client.chat.completions.create(model="m", messages=MESSAGES)
    span = only_span(exporter)
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id
