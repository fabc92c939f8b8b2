"""Deferred spans: built off the request path, from what the call was; bounded, flushed, never a risk."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import openai
import pytest
from fake_openai import chat
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmsight
from llmsight.instrumentation import config, deferred_spans, message_json, safety, setup

from .helpers import attr_json
from .own_pipeline import own_pipeline
from .test_setup import _decode, collector  # noqa: F401 - the fixture is used by name

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture()
def no_background_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch thread exports only when flushed: what is queued can be looked at first."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")


def _queued(pipeline: Any) -> list[Any]:
    return list(setup._PIPELINES[pipeline.provider]._batch_processor._queue)


@pytest.mark.usefixtures("no_background_export")
def test_the_request_path_only_queues_the_span(fake, monkeypatch):
    with own_pipeline(monkeypatch, deferred=True) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        before = time.time_ns()
        client.chat.completions.create(model="m", messages=MESSAGES)
        after = time.time_ns()
        (queued,) = _queued(pipeline)
        assert type(queued) is deferred_spans.DeferredSpan
        assert queued.late is not None  # the late attributes are not built yet...
        assert "gen_ai.input.messages" not in queued.attributes
        assert before <= queued._start <= queued._end <= after  # ...but the span was timed by the call
        (span,) = pipeline.spans()
    assert (span.start_time, span.end_time) == (queued._start, queued._end)
    assert attr_json(span, "gen_ai.input.messages")[0]["parts"][0]["content"] == "hello"
    assert attr_json(span, "gen_ai.output.messages")[0]["parts"][0]["content"] == "echo: hello"


@pytest.mark.usefixtures("no_background_export")
def test_spans_show_the_request_as_it_was_not_as_the_app_changed_it_later(fake, monkeypatch):
    history = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "first question"}]
    stop = ["END"]
    with own_pipeline(monkeypatch, deferred=True) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=history, stop=stop)
        history.append({"role": "assistant", "content": reply.choices[0].message.content})  # the usual loop
        history[1]["content"] = "edited afterwards"
        stop.append("LATER")
        (span,) = pipeline.spans()
    sent = attr_json(span, "gen_ai.input.messages")
    assert [m["parts"][0]["content"] for m in sent] == ["be brief", "first question"]
    assert tuple(span.attributes["gen_ai.request.stop_sequences"]) == ("END",)


def test_full_queue_drops_and_counts_without_blocking_the_app(fake, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "600000")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    entered, release = threading.Event(), threading.Event()
    memory = InMemorySpanExporter()

    class Stuck(SpanExporter):  # a collector that hangs until released
        def export(self, spans: Any) -> SpanExportResult:
            entered.set()
            assert release.wait(30)
            return memory.export(spans)

    with own_pipeline(monkeypatch, deferred=True, exporter=Stuck(), memory=memory) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        for _ in range(4):  # the fourth fills a batch: the batch thread takes it and hangs in export
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert entered.wait(30)
        with caplog.at_level(logging.WARNING):
            for _ in range(7):  # four fit in the queue, three push the oldest out
                assert client.chat.completions.create(model="m", messages=MESSAGES).id == "chatcmpl-fake"
        assert pipeline.counting.dropped == 3
        assert not [r for r in caplog.records if "Queue full" in r.getMessage()]
        release.set()
        exported = pipeline.spans()
    assert len(exported) == 8
    assert all("gen_ai.output.messages" in s.attributes for s in exported)


def test_a_failure_while_building_is_logged_once_and_the_span_still_goes(fake, monkeypatch, caplog):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("llmsight bug")

    monkeypatch.setattr(message_json, "chat_output_json", broken)
    monkeypatch.setattr(safety, "_reported", set())
    with own_pipeline(monkeypatch, deferred=True) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        with caplog.at_level(logging.WARNING, logger="llmsight.instrumentation"):
            for _ in range(3):
                assert client.chat.completions.create(model="m", messages=MESSAGES).id == "chatcmpl-fake"
            spans = pipeline.spans()
    assert len(spans) == 3
    assert all("gen_ai.output.messages" not in s.attributes for s in spans)
    assert all(s.attributes["gen_ai.usage.input_tokens"] == 11 for s in spans)  # the rest of the response
    assert all("gen_ai.input.messages" in s.attributes for s in spans)  # and the request
    assert len([r for r in caplog.records if "internal error in deferred.response" in r.getMessage()]) == 1


def test_a_span_that_cannot_be_built_is_dropped_and_counted(fake, monkeypatch, caplog):
    def broken(self: Any, attributes: Any) -> Any:
        raise RuntimeError("cannot build")

    monkeypatch.setattr(deferred_spans.DeferredSpan, "_readable", broken)
    monkeypatch.setattr(safety, "_reported", set())
    with own_pipeline(monkeypatch, deferred=True) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        with caplog.at_level(logging.WARNING, logger="llmsight.instrumentation"):
            client.chat.completions.create(model="m", messages=MESSAGES)
            with pipeline.provider.get_tracer("app").start_as_current_span("app span"):
                pass
            spans = pipeline.spans()
        assert [s.name for s in spans] == ["app span"]  # the batch went out without it
        assert pipeline.counting.dropped == 1
    assert [r for r in caplog.records if "could not build" in r.getMessage()]


def test_a_processor_added_later_gets_real_spans(fake, monkeypatch):
    with own_pipeline(monkeypatch, deferred=True) as pipeline:
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        fake.enqueue(chat("streamed reply", piece_size=4))
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)  # deferred span
        late = InMemorySpanExporter()
        pipeline.provider.add_span_processor(SimpleSpanProcessor(late))
        assert not config.SETTINGS.deferred_spans.usable()
        list(stream)  # ends after the processor came: built now, for every processor
        client.chat.completions.create(model="m", messages=MESSAGES)  # started after: not deferred
        seen_late = late.get_finished_spans()
        seen_batch = pipeline.spans()
    assert [s.name for s in seen_late] == [s.name for s in seen_batch] == ["chat m", "chat m"]
    for span in seen_late:
        assert "gen_ai.output.messages" in span.attributes
    assert attr_json(seen_late[0], "gen_ai.output.messages")[0]["parts"][0]["content"] == "streamed reply"


def test_only_llmsight_own_default_pipeline_is_deferred(monkeypatch):
    monkeypatch.setenv("LLMSIGHT_FAST_SPANS", "true")
    provider, _ = setup.build_provider(exporter=InMemorySpanExporter())
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    sampled_provider, _ = setup.build_provider(exporter=InMemorySpanExporter())
    try:
        for target, deferred in ((provider, True), (app_provider, False), (sampled_provider, False)):
            llmsight.instrument(tracer_provider=target)
            assert (config.SETTINGS.deferred_spans is not None) is deferred
            assert config.SETTINGS.fast_spans is not None
            llmsight.uninstrument()
    finally:
        provider.shutdown()
        sampled_provider.shutdown()


APP = textwrap.dedent("""
    import sys, openai, llmsight
    from llmsight.instrumentation import config
    llmsight.instrument(endpoint=sys.argv[2], stream_usage=True)
    assert config.SETTINGS.deferred_spans is not None, "llmsight's own pipeline should defer"
    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "plain"}])
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "streamed"}],
                                            stream=True)
    print("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
""")


def test_queued_spans_are_built_and_exported_at_exit(fake, collector):  # noqa: F811
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMSIGHT_"))}
    environment["OTEL_BSP_SCHEDULE_DELAY"] = "600000"  # nothing leaves before the exit flush
    out = subprocess.run([sys.executable, "-c", APP, fake.base_url, f"http://127.0.0.1:{collector.server_port}"],
                         capture_output=True, text=True, timeout=60, env=environment)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "echo: streamed"
    _, spans, _ = _decode(collector.received)
    assert [s.name for s in spans] == ["chat m", "chat m"]
    plain, streamed = ({kv.key: kv.value for kv in span.attributes} for span in spans)
    assert plain["gen_ai.usage.input_tokens"].int_value == 11
    assert streamed["gen_ai.request.stream"].bool_value is True
    for attributes, text in ((plain, "echo: plain"), (streamed, "echo: streamed")):
        output = json.loads(attributes["gen_ai.output.messages"].string_value)
        assert output[0]["parts"][0]["content"] == text
