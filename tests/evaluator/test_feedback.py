"""People's feedback: sent with llmsight.feedback() through the real OTel SDK from another process, minutes
after the call, through the collector; it lands on the right call and the report's agreement with the judge
matches a hand count."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
import time

from llmsight.evaluator.report import build_report

from .spans import COLUMNS, Call

SENDER = textwrap.dedent("""
    import datetime as dt, json, sys
    import llmsight
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint, items = sys.argv[1], json.loads(sys.argv[2])
    from opentelemetry.sdk.resources import Resource
    provider = TracerProvider(resource=Resource.create({"service.name": "web-frontend"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces")))
    trace.set_tracer_provider(provider)
    llmsight.instrument()  # the app's own provider: llmsight uses it
    for item in items:
        at = dt.datetime.fromisoformat(item.pop("at"))
        assert llmsight.feedback(item.pop("value"), timestamp=at, **item)
    assert not llmsight.feedback(7, response_id="x")  # out of range: logged, not raised, not sent
    provider.shutdown()
""")


def test_feedback_from_another_process_lands_on_its_call_and_is_held_against_the_judge(
    store_client, database, collector
):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    calls = [Call(age_s=1800 + i) for i in range(6)]
    rows = [c.row(now) for c in calls]
    rows[5][8]["gen_ai.response.id"] = "chatcmpl-abc123"  # this one is addressed by the provider's id
    store_client.insert("otel_traces", rows, column_names=COLUMNS)
    judge = [5, 2, 2, 5, 1, 4]  # relevance, threshold 4: calls 1, 2 and 4 fail
    store_client.insert("evaluations", [
        [now - dt.timedelta(seconds=c.age_s), c.trace_id, c.span_id, c.service, c.model, "relevance", s, 4.0, "ok",
         "judge-x", "v1"] for c, s in zip(calls, judge, strict=True)
    ], column_names=["SpanTimestamp", "TraceId", "SpanId", "ServiceName", "Model", "Metric", "Score", "Threshold",
                     "Status", "JudgeModel", "PromptVersion"])  # fmt: skip
    later = (now - dt.timedelta(seconds=1800) + dt.timedelta(minutes=7)).replace(tzinfo=dt.timezone.utc)
    # people: 0 up, 1 down, 2 up, 3 down (then changes their mind: up), 4 down, 5 down by response id
    items = [
        {"value": True, "trace_id": calls[0].trace_id, "span_id": calls[0].span_id, "label": "helpful"},
        {"value": False, "trace_id": calls[1].trace_id, "span_id": calls[1].span_id, "comment": "wrong city"},
        {"value": 0.75, "trace_id": calls[2].trace_id, "span_id": calls[2].span_id, "user_id": "u-7"},
        {"value": False, "trace_id": calls[3].trace_id, "span_id": calls[3].span_id},
        {"value": True, "trace_id": calls[3].trace_id, "span_id": calls[3].span_id, "minutes": 3},
        {"value": 0.0, "trace_id": calls[4].trace_id, "span_id": calls[4].span_id},
        {"value": False, "response_id": "chatcmpl-abc123"},
    ]
    for item in items:
        item["at"] = (later + dt.timedelta(minutes=item.pop("minutes", 0))).isoformat()
    sent = subprocess.run([sys.executable, "-c", SENDER, collector.endpoints.http, json.dumps(items)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert sent.returncode == 0, sent.stderr

    deadline = time.monotonic() + 30
    while int(store_client.command("SELECT count() FROM feedback")) < len(items):
        assert time.monotonic() < deadline, "feedback never reached the store"
        time.sleep(0.05)
    stored = store_client.query(
        "SELECT CallSpanId, ResponseId, Score, Thumbs, Label, Comment, UserId, ServiceName, Timestamp "
        "FROM feedback FINAL ORDER BY Timestamp, CallSpanId"
    ).result_rows
    assert len(stored) == len(items)
    assert stored[0][7] == "web-frontend" and stored[0][8] == later.replace(tzinfo=None)  # the injected time
    by_span = {r[0]: r for r in stored if r[0]}
    assert by_span[calls[1].span_id][2:6] == (0.0, "down", "", "wrong city")
    assert by_span[calls[2].span_id][2:7] == (0.75, "", "", "", "u-7")
    assert int(store_client.command("SELECT count() FROM llm_calls WHERE SpanName = 'llmsight.feedback'")) == 0

    rep = build_report(store_client, database, 3600)
    fb = rep.feedback
    assert (fb.ratings, fb.rated_calls, fb.negative_calls) == (7, 6, 3)  # 3's latest word is "up"
    (agreement,) = fb.agreement
    # judge fail / person fail by hand: call 1 (2, down), 4 (1, 0.0); judge fail / person pass: 2 (2, 0.75);
    # judge pass / person fail: 5 (4, down by response id); judge pass / person pass: 0, 3
    assert (agreement.judge_fail_person_fail, agreement.judge_fail_person_pass, agreement.judge_pass_person_fail,
            agreement.judge_pass_person_pass) == (2, 1, 1, 2)  # fmt: skip
    assert agreement.precision == 2 / 3 and agreement.recall == 2 / 3
