"""Put LLM-call and retrieval spans into a test store the way the contrib exporter would.

Rows go into ``otel_traces``; the materialized view derives ``llm_calls`` from them, so tests
exercise the same path production data takes.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

COLUMNS = [
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "SpanAttributes", "Duration", "StatusCode", "StatusMessage",
]


def hex_id(nbytes: int) -> str:
    return secrets.token_hex(nbytes)


@dataclass
class Call:
    question: str = "What is the capital of France?"
    answer: str = "Paris is the capital of France."
    context: list[Any] | None = None
    ground_truth: str = ""
    service: str = "shop"
    model: str = "gpt-4o-mini"
    status: str = "Unset"
    input_tokens: int = 10
    output_tokens: int = 5
    duration_ms: float = 100.0
    age_s: float = 60.0
    trace_id: str = field(default_factory=lambda: hex_id(16))
    span_id: str = field(default_factory=lambda: hex_id(8))
    history: list[tuple[str, str]] = field(default_factory=list)

    def row(self, now: dt.datetime) -> list[Any]:
        messages = [{"role": r, "parts": [{"type": "text", "content": t}]} for r, t in self.history]
        messages.append({"role": "user", "parts": [{"type": "text", "content": self.question}]})
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": self.model,
            "gen_ai.response.model": self.model,
            "gen_ai.usage.input_tokens": str(self.input_tokens),
            "gen_ai.usage.output_tokens": str(self.output_tokens),
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": self.answer}], "finish_reason": "stop"}]
            ),
        }
        if self.context is not None:
            attrs["llmsight.context.documents"] = json.dumps(self.context)
        if self.ground_truth:
            attrs["llmsight.ground_truth"] = self.ground_truth
        return [
            now - dt.timedelta(seconds=self.age_s), self.trace_id, self.span_id, "", f"chat {self.model}",
            "Client", self.service, {"service.name": self.service}, attrs, int(self.duration_ms * 1e6),
            self.status, "boom" if self.status == "Error" else "",
        ]


def retrieval_row(trace_id: str, docs: list[Any], age_s: float, service: str = "shop") -> list[Any]:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    attrs = {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": json.dumps(docs)}
    return [now - dt.timedelta(seconds=age_s), trace_id, hex_id(8), "", "retrieval", "Client", service,
            {"service.name": service}, attrs, 1_000_000, "Unset", ""]


def insert_calls(client: Any, calls: list[Call], extra_rows: list[list[Any]] | None = None) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [c.row(now) for c in calls] + list(extra_rows or [])
    client.insert("otel_traces", rows, column_names=COLUMNS)
