"""Rows that did not come through llmsight's collector still give usable llm_calls rows.

Covers rows written in the contrib ClickHouse exporter's format, the deprecated semconv names,
OpenLLMetry's indexed content attributes and OpenLIT's prompt/completion events.
"""

from __future__ import annotations

import json

from tests.collector.direct_rows import insert_span


def call_row(client, trace_id: str) -> dict:
    rows = list(
        client.query(f"SELECT *, Prompt, Completion FROM llm_calls WHERE TraceId = '{trace_id}'").named_results()
    )
    assert len(rows) == 1
    return rows[0]


def test_openllmetry_style_span(store_client):
    trace_id = insert_span(
        store_client,
        {
            "gen_ai.system": "OpenAI",
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.prompt_tokens": "321",
            "gen_ai.usage.completion_tokens": "54",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You are terse.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": 'Say "hi"',
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hi",
            "gen_ai.completion.0.finish_reason": "stop",
            "llm.is_streaming": "true",
        },
    )
    row = call_row(store_client, trace_id)
    assert row["Operation"] == "chat"
    assert row["Provider"] == "OpenAI"
    assert (row["InputTokens"], row["OutputTokens"]) == (321, 54)
    assert row["Model"] == "gpt-4o-2024-08-06"
    assert row["Environment"] == "staging"
    assert row["Stream"] == 1
    messages = json.loads(row["InputMessages"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["parts"][0]["content"] == 'Say "hi"'
    assert row["Prompt"] == 'Say "hi"'
    assert row["Completion"] == "hi"
    assert row["FinishReasons"] == ["stop"]
    assert json.loads(row["OutputMessages"])[0]["finish_reason"] == "stop"


def test_openlit_style_events(store_client):
    trace_id = insert_span(
        store_client,
        {
            "gen_ai.system": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": "10",
            "gen_ai.usage.output_tokens": "3",
        },
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": "user: what is 2+2?"}),
            ("gen_ai.content.completion", {"gen_ai.completion": "4"}),
        ],
    )
    row = call_row(store_client, trace_id)
    assert row["Provider"] == "openai"
    assert row["Prompt"] == "user: what is 2+2?"
    assert row["Completion"] == "4"


def test_current_semconv_in_contrib_format(store_client):
    trace_id = insert_span(
        store_client,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "azure.ai.openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": "7",
            "gen_ai.usage.output_tokens": "2",
            "gen_ai.usage.reasoning.output_tokens": "1",
            "gen_ai.response.finish_reasons": '["length"]',
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be nice."}]),
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hello"}]}]),
            "error.type": "timeout",
        },
        status="Error",
    )
    row = call_row(store_client, trace_id)
    assert row["Provider"] == "azure.ai.openai"
    assert row["ReasoningTokens"] == 1
    assert row["FinishReasons"] == ["length"]
    assert row["ErrorType"] == "timeout" and row["IsError"] == 1
    assert json.loads(row["SystemInstructions"])[0]["content"] == "Be nice."
    assert row["Duration"] == 1_500_000_000


def test_non_llm_spans_are_not_llm_calls(store_client):
    plain = insert_span(store_client, {"http.method": "GET"})
    retrieval = insert_span(store_client, {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb"})
    for trace_id in (plain, retrieval):
        assert int(store_client.command(f"SELECT count() FROM llm_calls WHERE TraceId = '{trace_id}'")) == 0
        assert int(store_client.command(f"SELECT count() FROM otel_traces WHERE TraceId = '{trace_id}'")) == 1


def test_error_types_are_stored_as_the_short_class_name(store_client):
    official = insert_span(
        store_client, {"gen_ai.operation.name": "chat", "error.type": "openai.RateLimitError"}, status="Error"
    )
    openllmetry = insert_span(store_client, {"gen_ai.system": "openai", "error.type": "RateLimitError"}, status="Error")
    category = insert_span(store_client, {"gen_ai.operation.name": "chat", "error.type": "timeout"}, status="Error")
    exception_event = insert_span(
        store_client,
        {"gen_ai.operation.name": "chat"},
        events=[("exception", {"exception.type": "openai.APITimeoutError", "exception.message": "timed out"})],
        status="Error",
    )
    assert [call_row(store_client, t)["ErrorType"] for t in (official, openllmetry, category, exception_event)] == [
        "RateLimitError",
        "RateLimitError",
        "timeout",
        "APITimeoutError",
    ]


def test_current_openllmetry_and_openlit_names(store_client):
    """OpenLLMetry 0.5x: gen_ai.is_streaming, gen_ai.usage.reasoning_tokens, finish reason tool_call;
    OpenLIT 1.4x: gen_ai.server.time_to_first_token (seconds), gen_ai.request.stream."""
    openllmetry = insert_span(
        store_client,
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.is_streaming": "true",
            "gen_ai.usage.reasoning_tokens": "12",
            "gen_ai.usage.cache_read_input_tokens": "3",
            "gen_ai.response.finish_reasons": '["tool_call"]',
        },
    )
    row = call_row(store_client, openllmetry)
    assert (row["Stream"], row["ReasoningTokens"], row["CacheReadTokens"]) == (1, 12, 3)
    assert row["FinishReasons"] == ["tool_calls"]
    assert row["TimeToFirstChunk"] is None

    openlit = insert_span(
        store_client,
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.stream": "true",
            "gen_ai.server.time_to_first_token": "0.42",
            "gen_ai.response.finish_reasons": '["stop"]',
        },
    )
    row = call_row(store_client, openlit)
    assert row["Stream"] == 1 and row["FinishReasons"] == ["stop"]
    assert abs(row["TimeToFirstChunk"] - 0.42) < 1e-9


def test_openllmetry_tool_call_finish_reason_is_tool_calls(store_client):
    trace_id = insert_span(
        store_client,
        {"gen_ai.system": "openai", "gen_ai.completion.0.finish_reason": "tool_call", "gen_ai.completion.0.role": "x"},
    )
    assert call_row(store_client, trace_id)["FinishReasons"] == ["tool_calls"]
