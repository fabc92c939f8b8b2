"""Redaction in the collector applies to every sender's content before it is stored."""

from __future__ import annotations

import json

import httpx2 as httpx
import pytest

from llmsight.collector.processors.redaction import compile_patterns
from tests.collector.otlp_bodies import chat_span_request, kv


def test_content_is_redacted_before_storage_and_counted(collector_factory, store_client):
    collector = collector_factory(redact="email,card,api_key,re:ORDER-\\d{6}", redact_attributes="app.note")
    request = chat_span_request(1, service="redact")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    secret = "mail jane.doe@example.com, card 4111 1111 1111 1111, key sk-abcdefghijklmnopqrstuv, ORDER-123456"
    for attribute in span.attributes:
        if attribute.key == "gen_ai.input.messages":
            attribute.value.string_value = json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": secret}]}]
            )
    span.attributes.append(kv("app.note", "call me at jane.doe@example.com"))
    span.attributes.append(kv("http.url", "https://x/?email=jane.doe@example.com"))  # not a content key: kept
    response = httpx.post(
        f"{collector.endpoints.http}/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    collector.wait_until_stored()
    prompt, note, url = store_client.query(
        "SELECT Prompt, SpanAttributes['app.note'], SpanAttributes['http.url'] "
        "FROM llm_calls JOIN otel_traces USING (SpanId) WHERE llm_calls.ServiceName = 'redact'"
    ).result_rows[0]
    assert prompt == "mail [REDACTED:email], card [REDACTED:card], key [REDACTED:api_key], [REDACTED:custom]"
    assert note == "call me at [REDACTED:email]"
    assert "jane.doe@example.com" in url
    metrics = httpx.get(f"{collector.endpoints.http}/metrics").text
    assert "llmsight_redactions_total 5" in metrics


def test_unknown_pattern_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown redaction pattern 'ssn'"):
        compile_patterns("email,ssn")
    with pytest.raises(ValueError, match="invalid redaction regex"):
        compile_patterns("re:(unclosed")
