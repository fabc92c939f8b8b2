"""Streams: same chunks for the app, real token counts, and a span that ends however the stream ends."""

from __future__ import annotations

import asyncio
import gc

import pytest
from fake_openai import chat, completion, responses

import llmsight

from .helpers import attr_json, llm_spans, only_span

MESSAGES = [{"role": "user", "content": "Tell me a story"}]
TEXT = "Once upon a time there was a tiny trace."


@pytest.mark.usefixtures("instrumented")
def test_stream_gets_usage_without_the_app_seeing_the_usage_chunk(client, fake, exporter):
    fake.enqueue(chat(TEXT, usage=(12, 9)))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert fake.last_request.include_usage  # llmsight asked for usage...
    assert all(c.choices for c in chunks)  # ...and the usage-only chunk never reached the app
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT
    span = only_span(exporter)
    a = span.attributes
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 9
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert 0 < a["gen_ai.response.time_to_first_chunk"] < 5
    assert "llmsight.usage.partial" not in a
    assert attr_json(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": TEXT}], "finish_reason": "stop"}]


@pytest.mark.usefixtures("instrumented")
def test_usage_chunk_stays_visible_when_the_app_asked_for_it(client, fake, exporter):
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 11
    assert only_span(exporter).attributes["gen_ai.usage.input_tokens"] == 11


def test_no_injection_for_compatible_servers_by_default(provider, client, fake, exporter):
    llmsight.instrument(tracer_provider=provider)  # stream_usage=None: only for OpenAI/Azure hosts
    try:
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    finally:
        llmsight.uninstrument()
    assert "stream_options" not in fake.last_request.body
    span = only_span(exporter)
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("stop",)


@pytest.mark.usefixtures("instrumented")
def test_streamed_tool_calls_are_assembled(client, fake, exporter):
    fake.enqueue(chat(None, tool_calls=[{"id": "call_9", "name": "lookup", "arguments": '{"q": "otel spans"}'}],
                      piece_size=3))
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert len(chunks) > 4
    out = attr_json(only_span(exporter), "gen_ai.output.messages")
    assert out == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": "call_9", "name": "lookup", "arguments": {"q": "otel spans"}}]}]


@pytest.mark.usefixtures("instrumented")
def test_abandoned_stream_ends_span_as_partial(client, fake, exporter):
    fake.enqueue(chat(TEXT, piece_size=2))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    for _ in stream:
        break
    assert llm_spans(exporter) == []  # still open while the app holds the stream
    del stream
    gc.collect()
    span = only_span(exporter)
    assert span.attributes["llmsight.usage.partial"] is True
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-fake"
    assert "gen_ai.usage.input_tokens" not in span.attributes


@pytest.mark.usefixtures("instrumented")
def test_closed_stream_ends_span_as_partial(client, fake, exporter):
    fake.enqueue(chat(TEXT, piece_size=2))
    with client.chat.completions.create(model="m", messages=MESSAGES, stream=True) as stream:
        first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    span = only_span(exporter)
    assert span.attributes["llmsight.usage.partial"] is True


@pytest.mark.usefixtures("instrumented")
def test_stream_helper_context_manager(client, fake, exporter):
    fake.enqueue(chat(TEXT))
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        text = "".join(e.delta for e in stream if e.type == "content.delta")
        final = stream.get_final_completion()
    assert text == TEXT
    assert final.usage is None  # exactly what the app sees without llmsight: no usage asked for
    span = only_span(exporter)
    assert span.attributes["gen_ai.usage.output_tokens"] == 7
    assert "llmsight.usage.partial" not in span.attributes


@pytest.mark.usefixtures("instrumented")
def test_stream_helper_left_early_ends_span(client, fake, exporter):
    fake.enqueue(chat(TEXT, piece_size=1))
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
    span = only_span(exporter)
    assert span.attributes["llmsight.usage.partial"] is True


@pytest.mark.usefixtures("instrumented")
def test_async_stream(aclient, fake, exporter):
    fake.enqueue(chat(TEXT, usage=(3, 4)))

    async def run():
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        return [c async for c in stream]

    chunks = asyncio.run(run())
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == TEXT
    a = only_span(exporter).attributes
    assert a["gen_ai.usage.output_tokens"] == 4
    assert "llmsight.usage.partial" not in a


@pytest.mark.usefixtures("instrumented")
def test_async_stream_closed_early(aclient, fake, exporter):
    fake.enqueue(chat(TEXT, piece_size=1))

    async def run():
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        async with stream:
            async for _ in stream:
                break

    asyncio.run(run())
    assert only_span(exporter).attributes["llmsight.usage.partial"] is True


@pytest.mark.usefixtures("instrumented")
def test_responses_stream(client, fake, exporter):
    fake.enqueue(responses(TEXT, usage=(30, 10)))
    events = list(client.responses.create(model="m", input="Tell me", stream=True))
    assert events[-1].type == "response.completed"
    span = only_span(exporter)
    a = span.attributes
    assert a["gen_ai.usage.input_tokens"] == 30 and a["gen_ai.usage.output_tokens"] == 10
    assert a["gen_ai.response.id"] == "resp_fake"
    assert attr_json(span, "gen_ai.output.messages")[0]["parts"] == [{"type": "text", "content": TEXT}]
    assert "gen_ai.response.time_to_first_chunk" in a


@pytest.mark.usefixtures("instrumented")
def test_responses_stream_helper(client, fake, exporter):
    fake.enqueue(responses(TEXT))
    with client.responses.stream(model="m", input="Tell me") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == TEXT
    assert only_span(exporter).attributes["gen_ai.usage.output_tokens"] == 9


@pytest.mark.usefixtures("instrumented")
def test_legacy_completions_stream(client, fake, exporter):
    fake.enqueue(completion(" and so on", usage=(2, 3)))
    chunks = list(client.completions.create(model="m", prompt="Count", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == " and so on"
    span = only_span(exporter)
    assert span.attributes["gen_ai.operation.name"] == "text_completion"
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert attr_json(span, "gen_ai.output.messages")[0]["parts"][0]["content"] == " and so on"


@pytest.mark.usefixtures("instrumented")
def test_raw_response_stream_is_traced_without_injection(client, fake, exporter):
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
    chunks = list(raw.parse())
    assert chunks and "stream_options" not in fake.last_request.body
    span = only_span(exporter)
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert "llmsight.usage.partial" not in span.attributes


@pytest.mark.usefixtures("instrumented")
def test_async_stream_helper_left_early_ends_span(fake, exporter):
    import openai

    fake.enqueue(chat(TEXT, piece_size=1))

    async def run() -> None:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        async with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
            async for event in stream:
                if event.type == "content.delta":
                    break
        assert llm_spans(exporter), "span must end when the helper's context exits"

    asyncio.run(run())
    assert only_span(exporter).attributes["llmsight.usage.partial"] is True
