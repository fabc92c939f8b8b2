"""Fixtures: one fake OpenAI server per session, an in-memory span exporter, instrumented clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_openai import FakeOpenAI  # noqa: E402

import llmsight  # noqa: E402
from llmsight.instrumentation.streams import USAGE_UNASKED  # noqa: E402


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture()
def fake(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.reset()
    fake_server.handler = None
    USAGE_UNASKED.clear()  # what llmsight learnt about the server's streams in earlier tests
    # The fake server sends the usage chunk only when asked, as OpenAI does: known so, llmsight injects
    # include_usage from the first stream (an endpoint not seen yet gets one unchanged stream first).
    host, port = fake_server.base_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    USAGE_UNASKED[(host, int(port))] = False
    return fake_server


@pytest.fixture()
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture()
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture()
def instrumented(provider: TracerProvider) -> Iterator[None]:
    llmsight.instrument(tracer_provider=provider, stream_usage=True)
    yield
    llmsight.uninstrument()


@pytest.fixture()
def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


@pytest.fixture()
def aclient(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
