"""The usage-only chunk: hidden only when it exists because llmsight asked for it and carries nothing else.

Each case runs the same stream without llmsight first and checks the app gets exactly the same
chunks (and the ``.stream()`` helper the same final completion) with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import openai
import pytest
from fake_openai import RecordedRequest, Reply, chat

import llmsight
from llmsight.instrumentation.streams import USAGE_UNASKED

from .helpers import llm_spans, only_span

MESSAGES = [{"role": "user", "content": "Tell me a story"}]
TEXT = "Once upon a time."
USAGE = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}


def server(
    unasked: bool = False, extra: dict[str, Any] | None = None, usage_on_choices: bool = False
) -> Callable[[RecordedRequest], Reply]:
    """A chat stream whose final usage-only chunk is sent when asked, or always (``unasked``),
    optionally with ``extra`` fields on it; ``usage_on_choices`` also puts usage on the finish chunk."""

    def render(request: RecordedRequest) -> Reply:
        reply = chat(TEXT)(request)
        events = [dict(e) for e in reply.events or ()]
        if not request.include_usage and unasked:
            events.append(
                {**{k: events[0][k] for k in ("id", "object", "created", "model")}, "choices": [], "usage": USAGE}
            )
        elif request.include_usage:
            events[-1]["usage"] = USAGE
        if usage_on_choices:
            events[-2]["usage"] = USAGE
        if extra and not events[-1]["choices"]:
            events[-1].update(extra)
        return Reply(events=events)

    return render


def dump(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c.model_dump(exclude_unset=True) for c in chunks]


def run_both(provider, fake, script, call: Callable[[], Any]) -> tuple[Any, Any]:
    """(result without llmsight, result with llmsight, stream_usage=True) of ``call``."""
    fake.handler = lambda request: script(request)
    plain = call()
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        traced = call()
    finally:
        llmsight.uninstrument()
    return plain, traced


def raw_stream(client: openai.OpenAI) -> list[Any]:
    """A with_raw_response stream: llmsight never changes it, so it shows what the server sends unasked."""
    # A new client: ``with_raw_response`` keeps the methods it saw first, patched or not.
    client = openai.OpenAI(base_url=client.base_url, api_key="sk-test", max_retries=0)
    return list(client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True).parse())


def test_server_seen_sending_usage_unasked_keeps_its_chunk(provider, client, fake, exporter):
    def call() -> list[dict[str, Any]]:
        return dump(list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True)))

    fake.handler = server(unasked=True)
    plain = call()
    assert plain[-1]["choices"] == [] and plain[-1]["usage"]["total_tokens"] == 21
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        assert raw_stream(client)[-1].usage.total_tokens == 21  # llmsight learns the server's habit
        first, second = call(), call()
    finally:
        llmsight.uninstrument()
    assert first == plain and second == plain  # the server's chunk, so the app's: never hidden
    assert all("stream_options" not in r.body for r in fake.requests[-2:])  # usage comes anyway
    spans = llm_spans(exporter)
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in spans] == [12, 12, 12]


def test_server_seen_honouring_the_option_gets_it_injected(provider, client, fake, exporter):
    fake.handler = server()
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        assert all(c.choices for c in raw_stream(client))  # no usage chunk unasked
        chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    finally:
        llmsight.uninstrument()
    assert [r.include_usage for r in fake.requests] == [False, True]
    assert all(c.choices for c in chunks)  # the chunk llmsight asked for stays hidden
    assert llm_spans(exporter)[-1].attributes["gen_ai.usage.input_tokens"] == 12


def test_stream_helper_final_completion_keeps_unasked_usage(provider, client, fake, exporter):
    def call() -> dict[str, Any]:
        with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
            types = [e.type for e in stream]
            final = stream.get_final_completion()
        return {"types": types, "final": final.model_dump()}

    def learn_then_call() -> dict[str, Any]:
        raw_stream(client)
        return call()

    plain, traced = run_both(provider, fake, server(unasked=True), learn_then_call)
    assert plain["final"]["usage"]["total_tokens"] == 21
    assert traced["final"]["usage"] == plain["final"]["usage"]
    assert traced == plain
    assert llm_spans(exporter)[-1].attributes["gen_ai.usage.input_tokens"] == 12


@pytest.mark.parametrize(
    "extra",
    [
        {"moderation": {"type": "moderation_results", "model": "mod-1", "results": []}},
        {"moderation": None},  # a field set to null is still a field the app may read
        {"x_provider_note": "cached"},
    ],
    ids=["moderation", "moderation-null", "unknown-field"],
)
def test_usage_chunk_with_other_fields_reaches_the_app(provider, client, fake, exporter, extra):
    def call() -> list[dict[str, Any]]:
        stream = client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return dump(list(stream))

    def call_unasked() -> list[dict[str, Any]]:
        return dump(list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True)))

    plain, _ = run_both(provider, fake, server(extra=extra), call)
    assert plain[-1]["usage"]["total_tokens"] == 21 and set(extra) <= set(plain[-1])
    exporter.clear()
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        traced = call_unasked()  # llmsight adds include_usage; the chunk it gets back has more in it
    finally:
        llmsight.uninstrument()
    assert fake.last_request.include_usage
    assert traced[-1] == plain[-1]
    assert only_span(exporter).attributes["gen_ai.usage.output_tokens"] == 9


def test_usage_on_chunks_with_choices_means_the_usage_chunk_is_not_ours(provider, client, fake, exporter):
    fake.handler = server(usage_on_choices=True)
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    finally:
        llmsight.uninstrument()
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 21


def test_async_usage_chunk_with_moderation_reaches_the_app(provider, aclient, fake, exporter):
    extra = {"moderation": {"type": "moderation_results", "model": "mod-1", "results": []}}
    fake.handler = server(extra=extra)

    async def run() -> list[Any]:
        stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        return [c async for c in stream]

    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        chunks = asyncio.run(run())
    finally:
        llmsight.uninstrument()
    assert fake.last_request.include_usage
    assert chunks[-1].choices == [] and chunks[-1].moderation is not None
    assert only_span(exporter).attributes["gen_ai.usage.input_tokens"] == 12


# --- an empty 200 body ---------------------------------------------------------------------------

EMPTY = Reply(events=[], done_marker=False, headers={"content-type": "text/plain"})  # parses to ""


@pytest.mark.usefixtures("instrumented")
def test_empty_body_through_with_raw_response(client, fake, exporter, caplog):
    caplog.set_level(logging.WARNING, logger="llmsight.instrumentation")
    fake.enqueue(EMPTY, EMPTY)
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse() == ""
    assert client.chat.completions.create(model="m", messages=MESSAGES) == ""
    assert not [r for r in caplog.records if r.name.startswith("llmsight")]  # nothing failed inside
    spans = llm_spans(exporter)
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["gen_ai.request.model"] == "m"
        assert "gen_ai.input.messages" in span.attributes  # the request side is kept
        assert "gen_ai.response.model" not in span.attributes
        assert span.status.status_code.name == "UNSET"


@pytest.mark.usefixtures("instrumented")
def test_empty_body_then_a_real_reply_is_still_recorded(client, fake, exporter, caplog):
    caplog.set_level(logging.WARNING, logger="llmsight.instrumentation")
    fake.enqueue(EMPTY, chat(TEXT))
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == TEXT
    assert llm_spans(exporter)[-1].attributes["gen_ai.response.model"] == "m"
    assert not [r for r in caplog.records if r.name.startswith("llmsight")]


def test_empty_body_async(provider, aclient, fake, exporter):
    fake.enqueue(EMPTY)
    llmsight.instrument(tracer_provider=provider)
    try:
        raw = asyncio.run(aclient.chat.completions.with_raw_response.create(model="m", messages=MESSAGES))
    finally:
        llmsight.uninstrument()
    assert raw.parse() == ""
    assert only_span(exporter).attributes["gen_ai.request.model"] == "m"


def forget_the_server(fake) -> None:
    """As in a new process: llmsight has seen no stream from the fake server (conftest seeds it as known)."""
    USAGE_UNASKED.clear()


def test_first_stream_to_a_server_that_always_sends_usage_keeps_its_chunk(provider, client, fake, exporter):
    """No raw-response stream taught llmsight the server's habit: the very first stream must not lose
    the usage chunk the server sends without being asked (it is the app's; hiding it changed what the app saw)."""

    def call() -> list[dict[str, Any]]:
        return dump(list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True)))

    fake.handler = server(unasked=True)
    plain = call()
    assert plain[-1]["choices"] == [] and plain[-1]["usage"]["total_tokens"] == 21
    forget_the_server(fake)
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        first, second = call(), call()
    finally:
        llmsight.uninstrument()
    assert first == plain and second == plain
    assert all("stream_options" not in r.body for r in fake.requests[-2:])  # the first taught it: usage comes anyway
    assert [s.attributes["gen_ai.usage.input_tokens"] for s in llm_spans(exporter)] == [12, 12]


def test_first_stream_to_a_new_server_is_unchanged_then_usage_is_injected(provider, client, fake, exporter):
    fake.handler = server()  # usage only when asked
    forget_the_server(fake)
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        first = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        second = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    finally:
        llmsight.uninstrument()
    assert [r.include_usage for r in fake.requests] == [False, True]
    assert all(c.choices for c in first + second)  # nothing unasked came; the chunk llmsight asked for is hidden
    first_span, second_span = llm_spans(exporter)
    assert "gen_ai.usage.input_tokens" not in first_span.attributes
    assert second_span.attributes["gen_ai.usage.input_tokens"] == 12
