"""The OpenTelemetry SDK's own OTLP exporters send GenAI spans to a real collector on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

INPUT = [{"role": "user", "parts": [{"type": "text", "content": "What is our refund window?"}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "30 days."}], "finish_reason": "stop"}]


def _exporter(kind: str, collector):
    if kind == "http":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=collector.endpoints.grpc, insecure=True)


def _emit(exporter, service: str) -> tuple[str, str]:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment.name": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test-app", "1.2.3")
    with tracer.start_as_current_span("handle request") as root:
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.usage.cache_read.input_tokens": 400,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.response.time_to_first_chunk": 0.25,
                    "gen_ai.input.messages": json.dumps(INPUT),
                    "gen_ai.output.messages": json.dumps(OUTPUT),
                    "llmsight.context.documents": json.dumps(["Refunds within 30 days."]),
                    "llmsight.ground_truth": "30 days",
                    "session.id": "s-1",
                    "user.id": "u-7",
                }
            )
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as failed:
            failed.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "error.type": "RateLimitError",
                }
            )
            failed.set_status(Status(StatusCode.ERROR, "429 Too Many Requests"))
    provider.shutdown()
    ctx = root.get_span_context()
    return f"{ctx.trace_id:032x}", f"{span.get_span_context().span_id:016x}"


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_sdk_exporter_spans_land_in_otel_traces_and_llm_calls(kind, collector, store_client):
    trace_id, span_id = _emit(_exporter(kind, collector), f"svc-{kind}")
    collector.wait_until_stored()

    spans = store_client.query(
        "SELECT SpanName, SpanKind, ServiceName, ScopeName, ScopeVersion, StatusCode, ParentSpanId != '', "
        "ResourceAttributes['deployment.environment.name'], SpanAttributes['gen_ai.usage.input_tokens'], "
        "SpanAttributes['gen_ai.response.finish_reasons'] "
        f"FROM otel_traces WHERE TraceId = '{trace_id}' ORDER BY Timestamp"
    ).result_rows
    assert len(spans) == 3
    names = {row[0] for row in spans}
    assert names == {"handle request", "chat gpt-4o-mini"}
    chat = [row for row in spans if row[0] == "chat gpt-4o-mini"]
    assert {row[1] for row in chat} == {"Client"}
    assert {row[2] for row in spans} == {f"svc-{kind}"}
    assert chat[0][3:5] == ("test-app", "1.2.3")
    assert sorted(row[5] for row in chat) == ["Error", "Unset"]
    assert all(row[6] for row in chat)
    assert chat[0][7] == "test"
    assert chat[0][8] == "1000"
    assert chat[0][9] == '["stop"]'  # arrays are stored as JSON, as the contrib exporter does

    calls = store_client.query(
        "SELECT SpanId, Operation, Provider, RequestModel, ResponseModel, Model, InputTokens, OutputTokens, "
        "CacheReadTokens, TimeToFirstChunk, FinishReasons, Prompt, Completion, ContextDocuments, GroundTruth, "
        "SessionId, UserId, Environment, StatusCode, ErrorType, IsError, Duration > 0 "
        f"FROM llm_calls WHERE TraceId = '{trace_id}' ORDER BY IsError"
    ).result_rows
    assert len(calls) == 2  # the app's own root span is not an LLM call
    ok, err = calls
    assert ok[0] == span_id
    assert ok[1:6] == ("chat", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18")
    assert ok[6:9] == (1000, 200, 400)
    assert ok[9] == pytest.approx(0.25)
    assert ok[10] == ["stop"]
    assert ok[11] == "What is our refund window?"
    assert ok[12] == "30 days."
    assert json.loads(ok[13]) == ["Refunds within 30 days."]
    assert ok[14:18] == ("30 days", "s-1", "u-7", "test")
    assert ok[21] == 1
    assert err[18:21] == ("Error", "RateLimitError", 1)
    assert err[9] is None  # no stream, no time to first chunk


def test_trace_id_lookup_table_is_filled(collector, store_client):
    trace_id, _ = _emit(_exporter("http", collector), "svc-lookup")
    collector.wait_until_stored()
    rows = store_client.query(
        f"SELECT TraceId, Start <= End FROM otel_traces_trace_id_ts WHERE TraceId = '{trace_id}'"
    ).result_rows
    assert rows and rows[0][1] == 1


def test_cost_is_computed_in_sql_from_genai_prices(collector, store_client, store_url):
    from llmsight.store.prices import find_price, resolve_prices
    from llmsight.store.url import parse_store_url

    trace_id, _ = _emit(_exporter("http", collector), "svc-cost")
    collector.wait_until_stored()  # the collector priced the new model before inserting its calls
    assert resolve_prices(store_client, parse_store_url(store_url).database) == 0  # nothing left for the job
    _, _, input_price, output_price, cache_price = find_price("openai", "gpt-4o-mini-2024-07-18")
    expected = (600 * input_price + 400 * cache_price + 200 * output_price) / 1e6
    (cost,) = store_client.query(
        f"SELECT sum(Cost) FROM llm_calls WHERE TraceId = '{trace_id}' AND NOT IsError"
    ).result_rows[0]
    assert expected > 0
    assert cost == pytest.approx(expected)


def test_price_resolution_can_look_at_recent_calls_only(collector, store_client, store_url):

    from llmsight.collector.otlp_rows import span_rows
    from llmsight.store.prices import resolve_prices
    from llmsight.store.url import parse_store_url
    from tests.collector.otlp_bodies import chat_span_request

    database = parse_store_url(store_url).database
    request = chat_span_request(1, service="svc-window")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    two_days = 2 * 86400 * 10**9
    span.start_time_unix_nano -= two_days
    span.end_time_unix_nano -= two_days
    # written by another path (the contrib exporter, say), so the periodic job is what prices it
    rows = span_rows(request)
    store_client.insert("otel_traces", rows.data, column_names=rows.columns, column_oriented=True)
    assert resolve_prices(store_client, database, since_s=3600) == 0  # the only call is two days old
    assert resolve_prices(store_client, database) == 1  # the full scan finds its model
