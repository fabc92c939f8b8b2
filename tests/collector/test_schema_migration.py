"""A store created by an older llmsight is migrated in place, keeping its data."""

from __future__ import annotations

import uuid

from llmsight.store import schema
from llmsight.store.client import open_client
from llmsight.store.url import parse_store_url


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
    versions = [r[0] for r in client.query("SELECT Version FROM schema_migrations ORDER BY Version").result_rows]
    assert versions == sorted(schema.MIGRATIONS)
    assert schema.init_schema(client, store).applied == []  # idempotent
    client.command(f"DROP DATABASE `{store.database}` SYNC")
