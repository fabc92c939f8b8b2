"""What the app receives is the same with and without llmsight: objects, chunks and exceptions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest
from fake_openai import Reply, chat, completion, embeddings, error, responses
from opentelemetry.trace import StatusCode

import llmsight

from .helpers import only_span

MESSAGES = [{"role": "user", "content": "hello there"}]


def _twice(provider: Any, fake: Any, script: Any, call: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``call`` uninstrumented, then instrumented, against the same scripted reply."""
    fake.enqueue(script)
    plain = call()
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        fake.enqueue(script)
        traced = call()
    finally:
        llmsight.uninstrument()
    return plain, traced


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value.model_dump()


CASES = {
    "chat": (chat("Hi!"), lambda c: _dump(c.chat.completions.create(model="m", messages=MESSAGES))),
    "chat_tools": (
        chat(None, tool_calls=[{"id": "c", "name": "f", "arguments": "{}"}]),
        lambda c: _dump(c.chat.completions.create(model="m", messages=MESSAGES)),
    ),
    "chat_stream": (
        chat("Some streamed words here", piece_size=3),
        lambda c: _dump(list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True))),
    ),
    "chat_stream_tools": (
        chat("x", tool_calls=[{"id": "c", "name": "f", "arguments": '{"a": [1, 2]}'}], piece_size=2),
        lambda c: _dump(list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True))),
    ),
    "responses": (responses("Hey"), lambda c: _dump(c.responses.create(model="m", input="hi"))),
    "responses_stream": (
        responses("Hey you", piece_size=2),
        lambda c: _dump(list(c.responses.create(model="m", input="hi", stream=True))),
    ),
    "completions": (completion(), lambda c: _dump(c.completions.create(model="m", prompt="p"))),
    "completions_stream": (
        completion(" a b c d"),
        lambda c: _dump(list(c.completions.create(model="m", prompt="p", stream=True))),
    ),
    "embeddings": (embeddings(4), lambda c: _dump(c.embeddings.create(model="e", input=["a", "b"]))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_results_identical_with_and_without_instrumentation(case, provider, exporter, client, fake):
    script, call = CASES[case]
    plain, traced = _twice(provider, fake, script, lambda: call(client))
    assert plain == traced
    assert len(only_span(exporter).attributes) > 5


def test_async_stream_chunks_identical(provider, exporter, fake):
    async def call():
        # A client per event loop: its connection pool belongs to the loop.
        aclient = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        return [c.model_dump() async for c in stream]

    plain, traced = _twice(provider, fake, chat("async words", piece_size=2), lambda: asyncio.run(call()))
    assert plain == traced
    only_span(exporter)


def _exception(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(openai.OpenAIError) as info:
        call()
    return info.value


@pytest.mark.parametrize(("status", "kind"), [(400, openai.BadRequestError), (401, openai.AuthenticationError),
                                              (429, openai.RateLimitError), (500, openai.InternalServerError),
                                              (503, openai.InternalServerError)])
def test_http_errors_identical_and_recorded(status, kind, provider, exporter, client, fake):
    def call():
        return _exception(lambda: client.chat.completions.create(model="m", messages=MESSAGES))

    plain, traced = _twice(provider, fake, error(status, f"boom {status}", code="c"), call)
    assert type(plain) is type(traced) is kind
    assert str(plain) == str(traced)
    assert plain.status_code == traced.status_code == status
    assert plain.body == traced.body
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == kind.__name__
    assert any(e.name == "exception" for e in span.events)


def test_timeout_identical_and_recorded(provider, exporter, fake):
    client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0, timeout=0.3)

    def call():
        return _exception(lambda: client.chat.completions.create(model="m", messages=MESSAGES))

    plain, traced = _twice(provider, fake, Reply(json={}, delay=1.5), call)
    assert type(plain) is type(traced) is openai.APITimeoutError
    span = only_span(exporter)
    assert span.attributes["error.type"] == "APITimeoutError"
    assert span.status.status_code is StatusCode.ERROR


def test_error_in_the_middle_of_a_stream(provider, exporter, client, fake):
    def broken(request):
        good = chat("abc")(request).events[:2]
        return Reply(events=[*good, {"error": {"message": "overloaded", "type": "server_error"}}])

    def call():
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        seen = []
        with pytest.raises(openai.APIError) as info:
            for chunk in stream:
                seen.append(chunk.model_dump())
        return seen, str(info.value)

    plain, traced = _twice(provider, fake, broken, call)
    assert plain == traced
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["llmsight.usage.partial"] is True
