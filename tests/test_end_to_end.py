"""The whole path with real parts: openai client -> instrumentation -> OTLP -> collector -> ClickHouse."""

from __future__ import annotations

import json

import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import llmsight
from llmsight.instrumentation.streams import USAGE_UNASKED, learn_usage_habit
from tests.fake_openai import FakeOpenAI, chat, embeddings


def test_instrumented_app_to_llm_calls(collector, store_client):
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces")))
    docs = ["Llamas live 15 to 25 years.", "Alpacas are smaller than llamas."]
    with FakeOpenAI() as server:
        server.enqueue(chat("Llamas live 15 to 25 years.", usage=(42, 9)))
        server.enqueue(chat("Streamed answer about alpacas.", usage=(30, 6)))
        llmsight.instrument(tracer_provider=provider, stream_usage=True)
        # The fake server sends the usage chunk only when asked, as OpenAI does. For an endpoint it has not
        # seen, llmsight learns that from one unchanged stream (docs/instrumentation.md); say it here.
        host, port = server.base_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        learn_usage_habit((host, int(port)), sent_unasked=False)
        try:
            client = openai.OpenAI(base_url=server.base_url, api_key="test")

            @llmsight.trace("answer question")
            def answer() -> list[str]:
                with llmsight.retrieval("how long do llamas live?", docs, data_source="kb"):
                    pass
                with llmsight.context(documents=docs, ground_truth="15-25 years", user_id="u-1", session_id="s-9"):
                    first = client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "How long do llamas live?"}]
                    )
                    stream = client.chat.completions.create(
                        model="gpt-4o-mini",
                        messages=[{"role": "user", "content": "And alpacas?"}],
                        stream=True,
                    )
                    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
                return [first.choices[0].message.content, streamed]

            texts = answer()
        finally:
            llmsight.uninstrument()
            USAGE_UNASKED.clear()
    provider.force_flush()
    provider.shutdown()
    collector.wait_until_stored()

    assert texts == ["Llamas live 15 to 25 years.", "Streamed answer about alpacas."]
    rows = list(
        store_client.query(
            "SELECT TraceId, Prompt, Completion, InputTokens, OutputTokens, Stream, TimeToFirstChunk, "
            "ContextDocuments, GroundTruth, UserId, SessionId, Provider, Operation "
            "FROM llm_calls WHERE ServiceName = 'e2e-app' ORDER BY Timestamp"
        ).named_results()
    )
    assert len(rows) == 2
    first, second = rows
    assert first["Prompt"] == "How long do llamas live?"
    assert first["Completion"] == "Llamas live 15 to 25 years."
    assert (first["InputTokens"], first["OutputTokens"]) == (42, 9)
    assert json.loads(first["ContextDocuments"]) == docs
    assert (first["GroundTruth"], first["UserId"], first["SessionId"]) == ("15-25 years", "u-1", "s-9")
    assert (first["Provider"], first["Operation"]) == ("openai", "chat")
    assert second["Stream"] == 1 and second["TimeToFirstChunk"] is not None
    assert (second["InputTokens"], second["OutputTokens"]) == (30, 6)
    assert second["Completion"] == "Streamed answer about alpacas."
    assert first["TraceId"] == second["TraceId"]
    spans = dict(
        store_client.query(
            f"SELECT SpanName, SpanKind FROM otel_traces WHERE TraceId = '{first['TraceId']}'"
        ).result_rows
    )
    assert spans["answer question"] == "Internal"
    assert any(name.startswith("retrieval") for name in spans)


def test_embedding_input_is_the_prompt_of_the_call(collector, store_client):
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-embed"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces")))
    with FakeOpenAI() as server:
        server.enqueue(embeddings(prompt_tokens=4))
        llmsight.instrument(tracer_provider=provider)
        try:
            client = openai.OpenAI(base_url=server.base_url, api_key="test")
            client.embeddings.create(model="text-embedding-3-small", input=["llamas", "alpacas"])
        finally:
            llmsight.uninstrument()
    provider.shutdown()
    collector.wait_until_stored()
    rows = store_client.query(
        "SELECT Operation, Model, InputTokens, Prompt, Completion FROM llm_calls WHERE ServiceName = 'e2e-embed'"
    ).result_rows
    assert rows == [("embeddings", "text-embedding-3-small", 4, "llamas\nalpacas", "")]
