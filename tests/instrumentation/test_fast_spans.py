"""The lighter span path gives the processors the same spans the SDK path would."""

from __future__ import annotations

import contextlib

import openai
import pytest
from fake_openai import error
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import llmsight
from llmsight.instrumentation import config
from llmsight.instrumentation.fast_spans import FastSpanFactory

MESSAGES = [{"role": "user", "content": "hello"}]


def _shape(span):
    return {
        "name": span.name, "kind": span.kind, "status": span.status.status_code,
        "attributes": {k: v for k, v in span.attributes.items() if k not in ("server.port",)},
        "events": [(e.name, sorted(e.attributes)) for e in span.events],
        "resource": dict(span.resource.attributes), "scope": span.instrumentation_scope.name,
        "sampled": span.context.trace_flags.sampled, "has_parent": span.parent is not None,
    }


def _one_call(fake, monkeypatch, fast: bool, fail: bool):
    monkeypatch.setenv("LLMSIGHT_FAST_SPANS", "true" if fast else "false")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    try:
        assert (config.SETTINGS.fast_spans is not None) is fast
        client = openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        if fail:
            fake.enqueue(error(500, "down"))
        with provider.get_tracer("app").start_as_current_span("parent"):
            with contextlib.suppress(openai.InternalServerError):
                client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.1)
            list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    finally:
        llmsight.uninstrument()
    return [_shape(s) for s in exporter.get_finished_spans() if s.name != "parent"]


@pytest.mark.parametrize("fail", [False, True])
def test_fast_and_sdk_paths_export_the_same_spans(fake, monkeypatch, fail):
    fast = _one_call(fake, monkeypatch, fast=True, fail=fail)
    sdk = _one_call(fake, monkeypatch, fast=False, fail=fail)
    for a, b in zip(fast, sdk, strict=True):
        a["attributes"].pop("gen_ai.response.time_to_first_chunk", None)
        b["attributes"].pop("gen_ai.response.time_to_first_chunk", None)
    assert fast == sdk
    assert len(fast) == 2


def test_sampler_decision_is_respected(fake, client):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    llmsight.instrument(tracer_provider=provider)
    try:
        assert client.chat.completions.create(model="m", messages=MESSAGES).id == "chatcmpl-fake"
    finally:
        llmsight.uninstrument()
    assert exporter.get_finished_spans() == ()


def test_other_processors_get_real_sdk_spans(provider, exporter, client, fake):
    started = []

    class OnStart(SimpleSpanProcessor):  # a subclass: its on_start may do something, so SDK spans
        def on_start(self, span, parent_context=None):
            started.append(span.name)

    llmsight.instrument(tracer_provider=provider)
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
        provider.add_span_processor(OnStart(InMemorySpanExporter()))
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    assert started == ["chat m"]  # only the call after the processor was added, and it saw on_start


def test_factory_refuses_non_default_limits():
    from opentelemetry.sdk.trace import SpanLimits

    limited = TracerProvider(span_limits=SpanLimits(max_attribute_length=100)).get_tracer("t")
    assert FastSpanFactory.for_tracer(limited) is None
    assert FastSpanFactory.for_tracer(TracerProvider().get_tracer("t")) is not None
    assert FastSpanFactory.for_tracer(object()) is None
