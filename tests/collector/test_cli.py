"""The CLI against a real store: readable output, readable errors, and reads through a running serve."""

from __future__ import annotations

import json
import os
import uuid

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from llmsight.cli.common import console
from llmsight.cli.main import app
from tests.collector.otlp_bodies import chat_span_request

runner = CliRunner()


@pytest.fixture(autouse=True)
def unfixed_console_width(monkeypatch):
    """rich fixes a console's width for good when COLUMNS is set at its creation (import, from a shell that
    exports COLUMNS); unfixed, it reads the COLUMNS each invoke passes, so the verdict does not depend on the shell."""
    monkeypatch.setattr(console, "_width", None)


def send(collector, request) -> None:
    response = httpx.post(
        f"{collector.endpoints.http}/v1/traces",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    collector.wait_until_stored()


def test_calls_and_trace_views(collector, store_url):
    trace_id = os.urandom(16)
    send(collector, chat_span_request(3, service="cli-svc", trace_id=trace_id))
    result = runner.invoke(app, ["calls", "--clickhouse-url", store_url, "--last", "1h"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count("cli-svc / gpt-4o-mini") == 3
    assert "question 2" in result.output

    result = runner.invoke(app, ["trace", trace_id.hex(), "--clickhouse-url", store_url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"trace {trace_id.hex()}" in result.output
    assert result.output.count("chat gpt-4o-mini") == 3
    assert "prompt: question 0" in result.output
    assert "completion: answer 0" in result.output

    prefix = runner.invoke(app, ["trace", trace_id.hex()[:10], "--clickhouse-url", store_url])
    assert prefix.exit_code == 0 and trace_id.hex() in prefix.output


def test_user_mistakes_are_one_line_errors(store_url):
    missing = runner.invoke(app, ["trace", "0" * 32, "--clickhouse-url", store_url])
    assert missing.exit_code == 2
    assert "no trace" in missing.output and "Traceback" not in missing.output

    bad_duration = runner.invoke(app, ["calls", "--last", "5x", "--clickhouse-url", store_url])
    assert bad_duration.exit_code == 2 and "cannot read duration" in bad_duration.output

    bad_url = runner.invoke(app, ["calls", "--clickhouse-url", "mysql://x"])
    assert bad_url.exit_code == 2
    assert "unknown storage scheme" in bad_url.output and "Traceback" not in bad_url.output

    unreachable = runner.invoke(app, ["db", "status", "--clickhouse-url", "http://127.0.0.1:9/otel"])
    assert unreachable.exit_code == 2
    assert "cannot open store" in unreachable.output and "Traceback" not in unreachable.output


def test_db_init_is_idempotent(chdb_path):
    url = f"chdb://{chdb_path}?database=init_{uuid.uuid4().hex[:8]}"
    first = runner.invoke(app, ["db", "init", "--clickhouse-url", url])
    assert first.exit_code == 0, first.output
    from llmsight.store.schema import SCHEMA_VERSION

    assert f"version 0 -> {SCHEMA_VERSION}" in first.output
    second = runner.invoke(
        app,
        ["db", "init", "--clickhouse-url", url, "--retention-days", "7"],
        env={"LLMSIGHT_RETENTION_PER_TABLE": "evaluations=365"},
    )
    assert second.exit_code == 0 and f"version {SCHEMA_VERSION} -> {SCHEMA_VERSION}" in second.output
    from llmsight.store.client import open_client

    client = open_client(url)
    assert "toIntervalDay(7)" in client.command("SHOW CREATE TABLE otel_traces")
    assert "toIntervalDay(365)" in client.command("SHOW CREATE TABLE evaluations")
    bad = runner.invoke(app, ["db", "init", "--clickhouse-url", url], env={"LLMSIGHT_RETENTION_PER_TABLE": "nope=3"})
    assert bad.exit_code == 2 and "invalid retention" in bad.output
    assert int(client.command("SELECT count() FROM price_catalog")) > 100


def test_status_reads_through_the_query_endpoint_of_a_running_serve(collector_factory, store_url, chdb_path):
    from llmsight.cli.common import serve_file
    from llmsight.settings import Settings

    settings = Settings(clickhouse_url=store_url)
    collector = collector_factory()
    send(collector, chat_span_request(2, service="status-svc"))
    marker = serve_file(settings)
    marker.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "store_path": str(chdb_path),
                "query_url": collector.endpoints.query,
                "query_token": collector.query_token,
            }
        )
    )
    try:
        from llmsight.cli.common import query_client

        client = query_client(settings)
        assert client.__class__.__name__ != "ChdbClient"  # it went through HTTP
        result = runner.invoke(app, ["db", "status", "--clickhouse-url", store_url], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "llm_calls" in result.output and "otel_traces" in result.output
        refused = runner.invoke(app, ["db", "init", "--clickhouse-url", store_url])
        assert refused.exit_code == 2 and "owns this store" in refused.output
    finally:
        marker.unlink()


def test_the_cli_sends_an_operator_token_to_a_serve_that_asks_for_one(collector_factory, store_url, chdb_path):
    from llmsight.cli.common import serve_file
    from llmsight.settings import Settings

    tokens = "app-token=acme,op-token"
    collector = collector_factory(ingest_tokens=tokens)
    marker = serve_file(Settings(clickhouse_url=store_url))
    marker.write_text(
        json.dumps({"pid": os.getpid(), "store_path": str(chdb_path), "query_url": collector.endpoints.query})
    )
    try:  # a serve.json without serve's own token: the CLI falls back to the configured tokens
        args = ["db", "status", "--clickhouse-url", store_url]
        refused = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert refused.exit_code == 2 and "Authentication failed" in refused.output
        ok = runner.invoke(app, args, env={"COLUMNS": "200", "LLMSIGHT_INGEST_TOKENS": tokens})
        assert ok.exit_code == 0 and "llm_calls" in ok.output, ok.output
        tenant = runner.invoke(app, args, env={"COLUMNS": "200", "LLMSIGHT_QUERY_TOKEN": "app-token"})
        assert tenant.exit_code == 2 and "tenant-bound" in tenant.output
        info = {**json.loads(marker.read_text()), "query_token": collector.query_token}
        marker.write_text(json.dumps(info))
        own = runner.invoke(app, args, env={"COLUMNS": "200"})  # serve's own token, from serve.json
        assert own.exit_code == 0 and "llm_calls" in own.output, own.output
    finally:
        marker.unlink()
