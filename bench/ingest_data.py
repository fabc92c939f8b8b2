"""Realistic LLM spans for the ingest benchmarks: OTLP export requests built and serialized before timing.

Each span is a chat call with ~15 attributes and 1-2 KB of message content (``content_scale``
multiplies it: 5 gives ~10 KB prompts), seeded so that every run sends the same bytes.
"""

from __future__ import annotations

import json
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

WORDS = [
    "refund",
    "policy",
    "order",
    "shipping",
    "warranty",
    "invoice",
    "account",
    "password",
    "reset",
    "delivery",
    "return",
    "label",
    "customer",
    "support",
    "agent",
    "product",
    "price",
    "discount",
    "subscription",
    "cancel",
    "upgrade",
    "plan",
    "billing",
    "address",
]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _text(rng: random.Random, n_bytes: int) -> str:
    out: list[str] = []
    size = 0
    while size < n_bytes:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def build_bodies(n_requests: int, batch: int, seed: int = 7, content_scale: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    now = time.time_ns()
    for _ in range(n_requests):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", rng.choice(["rag-api", "support-bot", "search"])),
                _kv("deployment.environment.name", "prod"),
                _kv("telemetry.sdk.language", "python"),
                _kv("telemetry.sdk.version", "1.45.2"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "llmsight"
        ss.scope.version = "0.1.0"
        for _ in range(batch):
            span = ss.spans.add()
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.parent_span_id = rng.randbytes(8)
            span.name = "chat gpt-4o-mini"
            span.kind = 3
            duration = rng.randint(200, 4000) * 1_000_000
            span.start_time_unix_nano = now - duration - rng.randint(0, 3_600_000_000_000)
            span.end_time_unix_nano = span.start_time_unix_nano + duration
            question = _text(rng, rng.randint(150, 400) * content_scale)
            context = [_text(rng, rng.randint(200, 400)) for _ in range(2)]
            answer = _text(rng, rng.randint(300, 600) * content_scale)
            span.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                    _kv("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(64):x}"),
                    _kv("gen_ai.request.temperature", 0.2),
                    _kv("gen_ai.request.max_tokens", 512),
                    _kv("gen_ai.usage.input_tokens", rng.randint(100, 2000)),
                    _kv("gen_ai.usage.output_tokens", rng.randint(20, 400)),
                    _kv("server.address", "api.openai.com"),
                    _kv("server.port", 443),
                    _kv("gen_ai.response.finish_reasons", '["stop"]'),
                    _kv(
                        "gen_ai.input.messages",
                        json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
                    ),
                    _kv(
                        "gen_ai.output.messages",
                        json.dumps(
                            [
                                {
                                    "role": "assistant",
                                    "parts": [{"type": "text", "content": answer}],
                                    "finish_reason": "stop",
                                }
                            ]
                        ),
                    ),
                    _kv("llmsight.context.documents", json.dumps(context)),
                ]
            )
        bodies.append(request.SerializeToString())
    return bodies
