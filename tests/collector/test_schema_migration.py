"""A store created by an older llmsight is migrated in place, keeping its data."""

from __future__ import annotations

import uuid

from llmsight.store import schema
from llmsight.store.client import open_client
from llmsight.store.url import parse_store_url
from tests.collector.direct_rows import insert_span


def test_v1_store_is_migrated_to_the_current_schema(chdb_path, monkeypatch):
    store = parse_store_url(f"chdb://{chdb_path}?database=mig_{uuid.uuid4().hex[:8]}")
    client = open_client(store, database=False)
    monkeypatch.setattr(schema, "MIGRATIONS", {1: schema.MIGRATIONS[1]})
    assert schema.init_schema(client, store).version_after == 1
    client.database = store.database
    client.command(
        "INSERT INTO evaluations (SpanTimestamp, TraceId, SpanId, ServiceName, Model, Metric, Score, Threshold, "
        "Passed, Status, JudgeModel, PromptVersion) VALUES (now64(9), 't', 's', 'svc', 'm', 'relevance', 5, 4, 1, "
        "'ok', 'j', 'v1')"
    )
    assert "Environment" not in client.command("SHOW CREATE TABLE evaluations")

    monkeypatch.undo()
    report = schema.init_schema(client, store)
    assert (report.version_before, report.version_after) == (1, schema.SCHEMA_VERSION)
    assert report.applied == [f for v in sorted(schema.MIGRATIONS) if v > 1 for f in schema.MIGRATIONS[v]]
    assert client.query("SELECT Score, Environment FROM evaluations").result_rows == [(5, "")]
    # an old score is a 1-5 score with no category (schema v9: pass/fail metrics and safety categories)
    assert client.query("SELECT Scale, Category FROM evaluations").result_rows == [("1-5", "")]
    # the pre-screen's table and view (schema v10), with the store's retention
    assert "toIntervalDay(30)" in client.command("SHOW CREATE TABLE call_screens")
    assert int(client.command("EXISTS TABLE call_screens_mv")) == 1
    # people's feedback (schema v11)
    assert "toIntervalDay(30)" in client.command("SHOW CREATE TABLE feedback")
    assert int(client.command("EXISTS TABLE feedback_mv")) == 1
    # calls by provider response id, for feedback that names its call so (schema v12)
    assert "toIntervalDay(30)" in client.command("SHOW CREATE TABLE call_response_ids")
    # the contrib exporter's current logs INSERT names EventName (schema v5)
    client.command(
        "INSERT INTO otel_logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, "
        "Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, "
        "LogAttributes, EventName) VALUES (now64(9), '', '', 0, 'INFO', 9, 'svc', 'b', '', map(), '', '', '', map(), "
        "map(), 'gen_ai.client.inference.operation.details')"
    )
    assert client.command("SELECT EventName FROM otel_logs") == "gen_ai.client.inference.operation.details"
    # key=value attribute items, as newer exporter layouts query them (schema v6, ALIAS columns)
    assert client.query("SELECT LogAttributeItems, ResourceAttributeItems FROM otel_logs").result_rows == [([], [])]
    client.command(
        "INSERT INTO otel_logs (Timestamp, ServiceName, Body, LogAttributes) "
        "VALUES (now64(9), 'svc', 'c', map('gen_ai.system', 'openai'))"
    )
    assert client.command("SELECT LogAttributeItems FROM otel_logs WHERE Body = 'c'") == "['gen_ai.system=openai']"
    assert "SpanAttributeItems" in client.command("SHOW CREATE TABLE otel_traces")
    # content sent as log events has its own table (schema v8), with the store's retention
    assert "toIntervalDay(30)" in client.command("SHOW CREATE TABLE llm_call_events")
    versions = [r[0] for r in client.query("SELECT Version FROM schema_migrations ORDER BY Version").result_rows]
    assert versions == sorted(schema.MIGRATIONS)
    assert schema.init_schema(client, store).applied == []  # idempotent
    client.command(f"DROP DATABASE `{store.database}` SYNC")


OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.model_name": "gpt-4o",
    "llm.token_count.prompt": "9",
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": "hi",
}


def test_v11_store_gets_the_recent_response_ids_of_its_calls_and_new_ones_as_they_come(chdb_path, monkeypatch):
    import datetime as dt

    store = parse_store_url(f"chdb://{chdb_path}?database=mig_{uuid.uuid4().hex[:8]}")
    client = open_client(store, database=False)
    monkeypatch.setattr(schema, "MIGRATIONS", {v: f for v, f in schema.MIGRATIONS.items() if v <= 11})
    schema.init_schema(client, store, retention_days=0)
    client.database = store.database
    now = dt.datetime.now(dt.timezone.utc)
    recent = insert_span(client, {"gen_ai.response.id": "chatcmpl-recent"}, start=now - dt.timedelta(days=2))
    insert_span(client, {"gen_ai.response.id": "chatcmpl-old"}, start=now - dt.timedelta(days=10))
    insert_span(client, {"gen_ai.request.model": "gpt-4o"})  # no response id: no row

    monkeypatch.undo()
    assert schema.init_schema(client, store, retention_days=0).applied[:3] == schema.MIGRATIONS[12]
    rows = client.query("SELECT ResponseId, TraceId, SpanId FROM call_response_ids FINAL").result_rows
    assert rows == [("chatcmpl-recent", recent, recent[:16])]  # the last 7 days' calls only
    later = insert_span(client, {"gen_ai.response.id": "chatcmpl-later"})
    got = client.query("SELECT ResponseId, SpanId FROM call_response_ids FINAL ORDER BY ResponseId").result_rows
    assert got == [("chatcmpl-later", later[:16]), ("chatcmpl-recent", recent[:16])]
    client.command(f"DROP DATABASE `{store.database}` SYNC")


def test_v2_store_gets_the_v3_view_and_keeps_its_calls(chdb_path, monkeypatch):
    """v3 replaces the view deriving llm_calls: calls derived before stay, new spans use the new view."""
    store = parse_store_url(f"chdb://{chdb_path}?database=mig_{uuid.uuid4().hex[:8]}")
    client = open_client(store, database=False)
    monkeypatch.setattr(schema, "MIGRATIONS", {v: schema.MIGRATIONS[v] for v in (1, 2)})
    assert schema.init_schema(client, store).version_after == 2
    client.database = store.database
    insert_span(
        client,
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "5"},
        trace_id="a" * 32,
    )
    insert_span(client, OPENINFERENCE, trace_id="b" * 32)  # the v2 view does not know OpenInference spans
    assert client.query("SELECT TraceId, InputTokens FROM llm_calls").result_rows == [("a" * 32, 5)]

    monkeypatch.undo()
    report = schema.init_schema(client, store)
    assert (report.version_before, report.version_after) == (2, schema.SCHEMA_VERSION)
    assert report.applied[:2] == schema.MIGRATIONS[3]
    insert_span(client, OPENINFERENCE, trace_id="c" * 32)
    rows = client.query("SELECT TraceId, Model, InputTokens, Prompt FROM llm_calls ORDER BY TraceId").result_rows
    assert rows == [("a" * 32, "gpt-4o", 5, ""), ("c" * 32, "gpt-4o", 9, "hi")]
    assert int(client.command("SELECT count() FROM otel_traces")) == 3
    assert schema.init_schema(client, store).applied == []
    client.command(f"DROP DATABASE `{store.database}` SYNC")
