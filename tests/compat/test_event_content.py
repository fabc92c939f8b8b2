"""Content sent only as log events reaches the evaluator and ``llmsight trace`` like content on the span.

The official GenAI instrumentation in EVENT_ONLY mode (tests/compat/peer_app.py, its own process)
talks to the fake OpenAI server and exports spans and log records over OTLP/HTTP to a real collector
on chDB; the log records become llm_call_events rows (schema v8) that readers join by span id. A
second case sends per-message events from the real SDK *after* the span was exported, the order a
separate log pipeline can produce.
"""

from __future__ import annotations

import json
import re

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from typer.testing import CliRunner

from compat.test_peers import run_peer
from llmsight.cli.main import app
from llmsight.evaluator.config import EvaluatorConfig
from llmsight.evaluator.sampling import select_candidates
from llmsight.evaluator.worker import run_once
from tests.evaluator.fake_judge import FakeJudge, reply_json

PROMPT, SERVICE = "Weather in Paris?", "compat-official-events"


def test_event_only_content_is_judged_and_shown(collector, store_client, store_url):
    assert run_peer("official-events", collector)["chat"] == "ok"
    collector.wait_until_stored()
    db = store_client.database
    # on the span there is nothing: the content came only as gen_ai.client.inference.operation.details
    on_span = f"SELECT countIf(InputMessages != '') FROM llm_calls WHERE ServiceName = '{SERVICE}'"
    assert store_client.command(on_span) == 0

    rows = select_candidates(
        store_client, db, judge_model="j", plans=[("relevance", "v1")], sample_rate=1.0, since_s=3600, service=SERVICE
    )
    by_completion = {r["Completion"]: r for r in rows}
    assert {"Sunny.", "Sunny and warm.", "Cloudy."} <= set(by_completion), rows
    chat = by_completion["Sunny."]
    assert chat["Prompt"] == PROMPT
    assert [m["role"] for m in json.loads(chat["InputMessages"])] == ["system", "user"]
    assert json.loads(chat["OutputMessages"])[0]["finish_reason"] == "stop"

    with FakeJudge() as judge:
        judge.when("Sunny and warm.", reply_json(2, "says nothing of the weather asked"))
        cfg = EvaluatorConfig(
            judge_model="gpt-4o-mini",
            judge_base_url=judge.base_url,
            judge_api_key="k",
            sample_rate=1.0,
            metrics=("relevance",),
            since_s=3600,
            max_retries=0,
            max_calls_per_hour=0,
            emit_events=False,
            service=SERVICE,
        )
        summary = run_once(cfg, store_client, db)
        assert judge.requests_with(PROMPT)
    statuses = dict(
        store_client.query("SELECT SpanId, Status FROM evaluations FINAL WHERE Metric = 'relevance'").result_rows
    )
    # judged like content on the span: the three answers; the tool call has no text to judge, as on a span
    assert {statuses[by_completion[text]["SpanId"]] for text in ("Sunny.", "Sunny and warm.", "Cloudy.")} == {"ok"}
    assert statuses[by_completion[""]["SpanId"]] == "not_applicable" and summary.not_applicable == 1, summary

    trace = CliRunner().invoke(app, ["trace", chat["TraceId"], "--clickhouse-url", store_url], env={"COLUMNS": "200"})
    assert trace.exit_code == 0, trace.output
    assert f"prompt: {PROMPT}" in trace.output and "completion: Sunny." in trace.output
    calls = CliRunner().invoke(app, ["calls", "--clickhouse-url", store_url], env={"COLUMNS": "200"})
    assert calls.exit_code == 0 and len(re.findall(re.escape(PROMPT), calls.output)) >= 6, calls.output


@pytest.fixture
def providers(collector):
    resource = Resource.create({"service.name": "late-events"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces"))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{collector.endpoints.http}/v1/logs"))
    )
    yield tracer_provider, logger_provider
    tracer_provider.shutdown()
    logger_provider.shutdown()


def test_per_message_events_after_the_span(providers, collector, store_client):
    """Older-convention events (one per message, named in event.name as older SDKs do) sent after the span."""
    tracer_provider, logger_provider = providers
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span(
        "chat gpt-4o", attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}
    ) as span:
        pass
    context = trace.set_span_in_context(span)  # the ended span's ids, as a later log pipeline would have them
    collector.wait_until_stored()  # the span is stored before any of its events arrive
    logger = logger_provider.get_logger("app")
    tool_call = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "refunds"}'}}
    events = [
        ("gen_ai.system.message", {"content": "Answer from the policy."}),
        ("gen_ai.user.message", {"content": "First question"}),
        ("gen_ai.assistant.message", {"tool_calls": [tool_call]}),
        ("gen_ai.tool.message", {"content": "30 days", "id": "c1"}),
        ("gen_ai.user.message", {"content": [{"type": "text", "text": "Refund window?"}]}),
        ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "30 days from delivery."}}),
    ]
    for name, body in events:
        logger.emit(LogRecord(context=context, body=body, attributes={"event.name": name, "gen_ai.system": "openai"}))
    collector.wait_until_stored()
    rows = select_candidates(
        store_client,
        store_client.database,
        judge_model="j",
        plans=[("relevance", "v1")],
        sample_rate=1.0,
        since_s=3600,
        service="late-events",
    )
    assert len(rows) == 1
    (row,) = rows
    assert (row["Prompt"], row["Completion"]) == ("Refund window?", "30 days from delivery.")
    messages = json.loads(row["InputMessages"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "user"]
    assert messages[2]["parts"] == [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"q": "refunds"}}]
    assert messages[3]["parts"] == [{"type": "tool_call_response", "id": "c1", "response": "30 days"}]
    assert json.loads(row["OutputMessages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "30 days from delivery."}], "finish_reason": "stop"}
    ]
