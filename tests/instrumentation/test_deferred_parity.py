"""Deferred spans (llmsight's own pipeline) export exactly the spans the SDK path exports.

Each scenario runs twice against the same scripted replies, through the pipeline ``instrument()``
builds when the app has none: once with SDK spans built while the call runs
(``LLMSIGHT_FAST_SPANS=false``), once with deferred spans built on export. The exported spans
are compared attribute by attribute, with events, status, parents, flags, resource and scope.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from fake_openai import Reply, chat, completion, embeddings, error, responses
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import llmsight
from llmsight.instrumentation import deferred_spans

from .own_pipeline import own_pipeline, shapes
from .test_parity import CASES

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
TOOL = [{"id": "call_1", "name": "lookup", "arguments": '{"q": "spans"}'}]


def _chat(c: Any, **kw: Any) -> Any:
    return c.chat.completions.create(model="m", messages=MESSAGES, temperature=0.5, max_tokens=20, **kw)


def _stream_with_child(c: Any, tracer: Any) -> None:
    """A tool call made while the app reads the stream: its parent is whatever is current then."""
    for i, _ in enumerate(_chat(c, stream=True)):
        if i == 1:
            with tracer.start_as_current_span("tool inside stream"):
                pass


def _stream_error(c: Any, tracer: Any) -> None:
    with pytest.raises(openai.APIError):
        for _ in _chat(c, stream=True):
            pass


def _http_error(c: Any, tracer: Any) -> None:
    with pytest.raises(openai.InternalServerError):
        _chat(c)


def _in_context(c: Any, tracer: Any) -> None:
    with llmsight.context(documents=["doc one", {"id": 7, "content": "doc two"}], user_id="u-1", tags=["t"]):
        _chat(c)


def _retrieval_then_chat(c: Any, tracer: Any) -> None:
    with llmsight.trace("answer"):
        with llmsight.retrieval(query="q", documents=["found"], data_source="kb"):
            pass
        _chat(c)


def _raw(c: Any, tracer: Any) -> None:
    c.chat.completions.with_raw_response.create(model="m", messages=MESSAGES).parse()


def _async_calls(c: Any, tracer: Any) -> None:
    async def run() -> None:
        ac = openai.AsyncOpenAI(base_url=c.base_url, api_key="k", max_retries=0)
        await ac.chat.completions.create(model="m", messages=MESSAGES)
        async for _ in await ac.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass

    asyncio.run(run())


def _stream_abandoned(c: Any, tracer: Any) -> None:
    stream = _chat(c, stream=True)
    next(stream)
    stream.close()


def _broken_stream(request: Any) -> Reply:
    good = chat("abc")(request).events[:2]
    return Reply(events=[*good, {"error": {"message": "overloaded", "type": "server_error"}}])


# name -> (scripted replies, what the app does)
SCENARIOS: dict[str, tuple[tuple[Any, ...], Callable[[Any, Any], None]]] = {
    "chat": ((chat("Hi!"),), lambda c, t: _chat(c, seed=3, stop=["x", "y"], response_format={"type": "text"})),
    "chat_tools": ((chat(None, tool_calls=TOOL),), lambda c, t: _chat(c)),
    "chat_tool_result": (
        (chat("done"),),
        lambda c, t: c.chat.completions.create(model="m", messages=[
            *MESSAGES,
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "result"},
        ]),
    ),
    "chat_stream": ((chat("Some streamed words here", piece_size=3),), _stream_with_child),
    "chat_stream_tools": ((chat("x", tool_calls=TOOL, piece_size=2),), lambda c, t: list(_chat(c, stream=True))),
    "chat_stream_abandoned": ((chat("Some streamed words", piece_size=2),), _stream_abandoned),
    "chat_stream_error": ((_broken_stream,), _stream_error),
    "http_error": ((error(500, "boom", code="c"),), _http_error),
    "context": ((chat("Hi!"),), _in_context),
    "retrieval_then_chat": ((chat("Hi!"),), _retrieval_then_chat),
    "raw_response": ((chat("raw"),), _raw),
    "responses": (
        (responses("Hey", function_call={"call_id": "c1", "name": "f", "arguments": "{}"}),),
        lambda c, t: c.responses.create(model="m", input=[{"role": "user", "content": "hi"}], instructions="sys",
                                        reasoning={"effort": "low"}),
    ),
    "responses_stream": ((responses("Hey you", piece_size=2),),
                         lambda c, t: list(c.responses.create(model="m", input="hi", stream=True))),
    "completions": ((completion(),), lambda c, t: c.completions.create(model="m", prompt=["p", "q"])),
    "completions_stream": ((completion(" a b c d"),),
                           lambda c, t: list(c.completions.create(model="m", prompt="p", stream=True))),
    "embeddings": ((embeddings(4),), lambda c, t: c.embeddings.create(model="e", input=["a", "b"], dimensions=4)),
    "embeddings_tokens": ((embeddings(6),), lambda c, t: c.embeddings.create(model="e", input=[1, 2, 3])),
    "async": ((chat("one"), chat("two words", piece_size=2)), _async_calls),
}


def _run(monkeypatch: Any, fake: Any, deferred: bool, name: str, **settings: Any) -> list[dict[str, Any]]:
    replies, action = SCENARIOS[name]
    fake.reset()
    fake.enqueue(*replies)
    with own_pipeline(monkeypatch, deferred, **settings) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        tracer = pipeline.provider.get_tracer("app")
        with tracer.start_as_current_span("request"):
            action(client, tracer)
        return shapes(pipeline.spans())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_deferred_spans_equal_sdk_spans(name, fake, monkeypatch):
    sdk = _run(monkeypatch, fake, deferred=False, name=name)
    built: list[str] = []
    readable = deferred_spans.DeferredSpan.readable

    def counted(span: Any) -> Any:
        built.append(span._name)
        return readable(span)

    monkeypatch.setattr(deferred_spans.DeferredSpan, "readable", counted)
    deferred = _run(monkeypatch, fake, deferred=True, name=name)
    llm = [s for s in sdk if s["attributes"].get("gen_ai.provider.name")]
    assert llm, "the scenario made no LLM call"
    assert sorted(built) == sorted(s["name"] for s in llm)  # every LLM span was a deferred one
    assert len(deferred) == len(sdk)
    for ours, theirs in zip(deferred, sdk, strict=True):
        assert ours["attributes"] == theirs["attributes"], ours["name"]
        assert ours == theirs


SETTINGS = {
    "no_content": {"capture_content": False},
    "redacted": {"redact": lambda text: text.replace("h", "#")},
    "truncated": {"max_content_length": 60},
}


@pytest.mark.parametrize("settings", sorted(SETTINGS))
@pytest.mark.parametrize("name", ["chat", "chat_stream", "responses", "embeddings", "context"])
def test_deferred_spans_equal_sdk_spans_with_other_settings(name, settings, fake, monkeypatch):
    sdk = _run(monkeypatch, fake, deferred=False, name=name, **SETTINGS[settings])
    deferred = _run(monkeypatch, fake, deferred=True, name=name, **SETTINGS[settings])
    assert deferred == sdk
    attributes = next(s["attributes"] for s in sdk if s["name"].startswith(("chat ", "embeddings ")))
    content = attributes.get("gen_ai.input.messages")
    if settings == "no_content":
        assert content is None
    elif settings == "redacted":
        texts = [part.get("content", "") for message in json.loads(content) for part in message["parts"]]
        assert texts and not any("h" in text for text in texts)
        assert name == "embeddings" or any("#" in text for text in texts)
    else:
        assert len(content) <= 60 and content.endswith("]")


@pytest.mark.parametrize("case", sorted(CASES))
def test_app_sees_the_same_results_on_the_deferred_path(case, fake, monkeypatch):
    script, call = CASES[case]
    client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
    fake.enqueue(script)
    plain = call(client)
    with own_pipeline(monkeypatch, deferred=True) as pipeline:
        fake.enqueue(script)
        traced = call(client)
        spans = pipeline.spans()
    assert plain == traced
    assert len(spans) == 1 and len(spans[0].attributes) > 5


def test_children_and_current_span_during_the_call(fake, monkeypatch):
    """Code that runs inside the call (an httpx event hook here) sees the LLM span as current, on both paths."""
    results = {}
    for deferred in (False, True):
        seen: dict[str, Any] = {}
        with own_pipeline(monkeypatch, deferred) as pipeline:
            tracer = pipeline.provider.get_tracer("app")

            def hook(request: Any, seen: dict[str, Any] = seen, tracer: Any = tracer) -> None:
                current = trace.get_current_span()
                seen["current"] = current.get_span_context()
                seen["recording"] = current.is_recording()
                current.set_attribute("app.note", "set during the call")
                current.add_event("app.event", {"k": 1})
                with tracer.start_as_current_span("child in call") as child:
                    seen["child_parent"] = child.parent

            http = httpx2.Client(event_hooks={"request": [hook]})
            client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0, http_client=http)
            with tracer.start_as_current_span("request") as outer:
                client.chat.completions.create(model="m", messages=MESSAGES)
            spans = pipeline.spans()
        llm = next(s for s in spans if s.name == "chat m")
        assert seen["recording"] is True
        assert seen["current"] == llm.context  # the very span that is exported
        assert seen["child_parent"].span_id == llm.context.span_id
        assert llm.parent.span_id == outer.get_span_context().span_id
        assert llm.context.trace_id == outer.get_span_context().trace_id
        assert llm.attributes["app.note"] == "set during the call"
        results[deferred] = shapes(spans)
    assert results[True] == results[False]


def test_unsampled_parent_gives_no_span_on_both_paths(fake, monkeypatch):
    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(0))
    for deferred in (False, True):
        with own_pipeline(monkeypatch, deferred) as pipeline:
            client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
            with trace.use_span(NonRecordingSpan(parent)):
                seen = {}

                def hook(request: Any, seen: dict[str, Any] = seen) -> None:
                    seen["context"] = trace.get_current_span().get_span_context()

                client._client.event_hooks["request"] = [hook]
                client.chat.completions.create(model="m", messages=MESSAGES)
            assert pipeline.spans() == []
            assert seen["context"].trace_id == 0x1234 and seen["context"].span_id != 0x5678
            assert not seen["context"].trace_flags.sampled
