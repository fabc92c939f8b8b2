"""Build OTLP request bodies by hand, for tests that need exact control over what is sent."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def chat_span_request(n: int, service: str = "svc", trace_id: bytes | None = None, content_bytes: int = 200) -> Any:
    """``n`` chat spans, each with a prompt and completion of about ``content_bytes``."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", service))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    now = time.time_ns()
    for i in range(n):
        span = scope_spans.spans.add()
        span.trace_id = trace_id or os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = "chat gpt-4o-mini"
        span.kind = 3
        span.start_time_unix_nano = now - 50_000_000
        span.end_time_unix_nano = now
        question = f"question {i}: " + "q" * (content_bytes // 2)
        answer = f"answer {i}: " + "a" * (content_bytes // 2)
        span.attributes.extend(
            [
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", "gpt-4o-mini"),
                kv("gen_ai.usage.input_tokens", 100 + i),
                kv("gen_ai.usage.output_tokens", 20),
                kv(
                    "gen_ai.input.messages",
                    json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
                ),
                kv(
                    "gen_ai.output.messages",
                    json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
                ),
            ]
        )
    return request


def json_body(trace_id: str, span_id: str, service: str = "json-svc") -> bytes:
    """An OTLP/JSON body as the spec writes it: hex ids, camelCase, int64 as strings."""
    now = time.time_ns()
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [
                        {
                            "scope": {"name": "handwritten"},
                            "spans": [
                                {
                                    "traceId": trace_id,
                                    "spanId": span_id,
                                    "name": "chat llama3",
                                    "kind": 3,
                                    "startTimeUnixNano": str(now - 10**9),
                                    "endTimeUnixNano": str(now),
                                    "attributes": [
                                        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                        {"key": "gen_ai.provider.name", "value": {"stringValue": "ollama"}},
                                        {"key": "gen_ai.request.model", "value": {"stringValue": "llama3"}},
                                        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                                        {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.5}},
                                        {
                                            "key": "gen_ai.response.finish_reasons",
                                            "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}},
                                        },
                                    ],
                                    "status": {"code": 2, "message": "boom"},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()
