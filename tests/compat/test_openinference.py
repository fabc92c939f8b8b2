"""Arize OpenInference spans become llm_calls rows like llmsight's own.

The real ``openinference-instrumentation-openai`` wraps the real ``openai`` client, which talks to
the fake OpenAI server; the SDK's OTLP/HTTP exporter sends the spans to a real collector on a
real chDB store. OpenInference writes ``llm.*`` attributes and no ``gen_ai.*`` at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_openai import FakeOpenAI, chat, embeddings, error
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}


@pytest.fixture
def app(collector) -> Iterator[tuple[openai.OpenAI, FakeOpenAI, TracerProvider]]:
    """An openai client instrumented by OpenInference, exporting to the test's collector."""
    provider = TracerProvider(resource=Resource.create({"service.name": "oi-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces")))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeOpenAI() as fake:
            yield openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0), fake, provider
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def calls(collector, store_client, expected: int) -> list[dict[str, Any]]:
    """The service's llm_calls rows in the order the calls were made."""
    collector.wait_until_stored()
    rows = list(
        store_client.query(
            "SELECT *, Prompt, Completion FROM llm_calls WHERE ServiceName = 'oi-app' ORDER BY Timestamp"
        ).named_results()
    )
    assert len(rows) == expected, [r["SpanName"] for r in rows]
    return rows


def test_chat_stream_tool_call_and_error(app, collector, store_client):
    client, fake, _ = app
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Weather in Paris?"}]
    fake.enqueue(chat("Sunny.", usage=(21, 4), cached_tokens=5, reasoning_tokens=2))
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2)
    fake.enqueue(chat("Sunny and warm.", usage=(12, 6), piece_size=3, chunk_delay=0.01))
    list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    fake.enqueue(chat(None, tool_calls=[CALL]))
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    fake.enqueue(chat("It is sunny."))
    history = [
        *messages,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": CALL["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24C"},
    ]
    client.chat.completions.create(model="gpt-4o-mini", messages=history, tools=[WEATHER_TOOL])
    fake.enqueue(error(429, "slow down", kind="rate_limit_error"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    plain, stream, tool_call, tool_result, failed = calls(collector, store_client, 5)
    assert {r["Operation"] for r in (plain, stream, tool_call, tool_result, failed)} == {"chat"}
    assert {r["Provider"] for r in (plain, stream, tool_call, tool_result, failed)} == {"openai"}

    assert (plain["RequestModel"], plain["ResponseModel"], plain["Model"]) == ("gpt-4o-mini",) * 3
    assert (plain["InputTokens"], plain["OutputTokens"]) == (21, 4)
    assert (plain["CacheReadTokens"], plain["ReasoningTokens"]) == (5, 2)
    assert plain["FinishReasons"] == ["stop"]
    assert plain["Stream"] == 0 and plain["TimeToFirstChunk"] is None
    assert plain["Prompt"] == "Weather in Paris?" and plain["Completion"] == "Sunny."
    assert json.loads(plain["InputMessages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    ]
    assert json.loads(plain["OutputMessages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}], "finish_reason": "stop"}
    ]
    assert plain["IsError"] == 0 and plain["ErrorType"] == ""

    assert stream["Stream"] == 1
    assert stream["Completion"] == "Sunny and warm."
    assert (stream["InputTokens"], stream["OutputTokens"]) == (12, 6)
    assert 0 < stream["TimeToFirstChunk"] < stream["Duration"] / 1e9

    assert tool_call["FinishReasons"] == ["tool_calls"]
    assert json.loads(tool_call["OutputMessages"]) == [
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
        }
    ]

    sent = json.loads(tool_result["InputMessages"])
    assert sent[2] == {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
    }
    assert sent[3] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny, 24C"}],
    }
    assert tool_result["Completion"] == "It is sunny."

    assert failed["IsError"] == 1 and failed["StatusCode"] == "Error"
    assert failed["ErrorType"] == "RateLimitError"  # the exception event says openai.RateLimitError
    assert "slow down" in failed["StatusMessage"]
    assert failed["Model"] == "gpt-4o-mini"  # from the request's invocation parameters: there was no response
    assert failed["Prompt"] == "Weather in Paris?" and failed["OutputMessages"] == ""


def test_embeddings_input_is_the_prompt(app, collector, store_client):
    client, fake, _ = app
    fake.enqueue(embeddings(prompt_tokens=6))
    client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])

    (row,) = calls(collector, store_client, 1)
    assert (row["Operation"], row["Provider"], row["Model"]) == ("embeddings", "openai", "text-embedding-3-small")
    assert (row["InputTokens"], row["OutputTokens"]) == (6, 0)
    assert row["Prompt"] == "alpha\nbeta"
    assert row["OutputMessages"] == ""


def test_openinference_content_is_redacted(collector_factory, store_client):
    """Redaction covers OpenInference's content attributes too: its messages, raw request and response
    and embedding texts, and leaves the embedding vectors alone."""
    collector = collector_factory(redact="email")
    provider = TracerProvider(resource=Resource.create({"service.name": "oi-redact"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces")))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeOpenAI() as fake:
            client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "mail jo@example.com"}])
            fake.enqueue(embeddings(dimensions=2))
            client.embeddings.create(model="e", input=["jo@example.com"])
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    collector.wait_until_stored()
    rows = store_client.query(
        "SELECT Prompt, Completion FROM llm_calls WHERE ServiceName = 'oi-redact' ORDER BY Timestamp"
    ).result_rows
    assert rows == [("mail [REDACTED:email]", "echo: mail [REDACTED:email]"), ("[REDACTED:email]", "")]
    raw = store_client.query(
        "SELECT SpanAttributes FROM otel_traces WHERE ServiceName = 'oi-redact' ORDER BY Timestamp"
    ).result_rows
    assert all("jo@example.com" not in json.dumps(attributes) for (attributes,) in raw)
    assert raw[1][0]["embedding.embeddings.0.embedding.vector"] == "[0.125,0.125]"


def test_retrieval_documents_are_groundedness_context(app, collector, store_client):
    """An OpenInference RAG app: a RETRIEVER span (retrieval.documents.N.document.*) before the LLM call in
    the same trace gives the evaluator its context, so groundedness is judged instead of not_applicable."""
    from openinference.instrumentation import OITracer, TraceConfig
    from openinference.semconv.trace import DocumentAttributes, SpanAttributes

    from llmsight.evaluator.config import EvaluatorConfig
    from llmsight.evaluator.worker import run_once
    from tests.evaluator.fake_judge import FakeJudge, reply_json

    client, fake, provider = app
    tracer = OITracer(provider.get_tracer("rag-app"), config=TraceConfig())
    docs = [("kb-7", "Refunds are accepted within 30 days of delivery.", 0.91), ("kb-2", "Shipping is free.", 0.4)]
    with tracer.start_as_current_span("rag", openinference_span_kind="chain"):
        with tracer.start_as_current_span("retrieve", openinference_span_kind="retriever") as span:
            for i, (doc_id, content, score) in enumerate(docs):
                prefix = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}."
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_ID, doc_id)
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_CONTENT, content)
                span.set_attribute(prefix + DocumentAttributes.DOCUMENT_SCORE, score)
        fake.enqueue(chat("Within 30 days of delivery."))
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Refund window?"}])
    (call,) = calls(collector, store_client, 1)
    assert call["ContextDocuments"] == ""  # the context is only on the retriever span

    with FakeJudge() as judge:
        judge.when("Within 30 days of delivery.", reply_json(5, "supported by kb-7"))
        cfg = EvaluatorConfig(judge_model="gpt-4o-mini", judge_base_url=judge.base_url, judge_api_key="k",
                              sample_rate=1.0, metrics=("groundedness",), since_s=3600, max_retries=0,
                              max_calls_per_hour=0, emit_events=False, service="oi-app")
        summary = run_once(cfg, store_client, store_client.database)
        (request,) = judge.requests_with("Within 30 days of delivery.")
    assert summary.not_applicable == 0 and summary.scored == 1, summary
    sent = json.dumps(request.body)
    assert "[kb-7] Refunds are accepted within 30 days of delivery." in sent and "[kb-2] Shipping is free." in sent
    assert sent.index("kb-7") < sent.index("kb-2")  # in the retriever's order
    (status,) = store_client.query("SELECT Status FROM evaluations FINAL WHERE Metric = 'groundedness'").result_rows
    assert status == ("ok",)
