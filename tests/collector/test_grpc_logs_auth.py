"""gRPC receiver errors, logs ingest, ingest tokens with tenants, and the read-only query endpoint."""

from __future__ import annotations

import time

import grpc
import httpx2 as httpx
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tests.collector.otlp_bodies import chat_span_request, kv


def _logs_request(body: str):
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(kv("service.name", "log-svc"))
    record = resource_logs.scope_logs.add().log_records.add()
    record.time_unix_nano = time.time_ns()  # older than the retention window would be dropped by TTL
    record.severity_number = 9
    record.body.string_value = body
    record.attributes.append(kv("event.name", "gen_ai.user.message"))
    record.event_name = "gen_ai.client.inference.operation.details"
    return request


def test_grpc_logs_are_stored(collector, store_client):
    with grpc.insecure_channel(collector.endpoints.grpc) as channel:
        logs_service_pb2_grpc.LogsServiceStub(channel).Export(_logs_request("hello from grpc"), timeout=10)
    collector.wait_until_stored()
    rows = store_client.query(
        "SELECT ServiceName, SeverityText, Body, LogAttributes['event.name'] "
        "FROM otel_logs WHERE Body = 'hello from grpc'"
    ).result_rows
    assert rows == [("log-svc", "INFO", "hello from grpc", "gen_ai.user.message")]


def test_http_logs_are_stored(collector, store_client):
    response = httpx.post(
        f"{collector.endpoints.http}/v1/logs",
        content=_logs_request("hello from http").SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert response.status_code == 200
    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_logs WHERE Body = 'hello from http'")) == 1
    event = store_client.command("SELECT EventName FROM otel_logs WHERE Body = 'hello from http'")
    assert event == "gen_ai.client.inference.operation.details"  # the record's event name is kept


def test_tokens_required_and_tenant_cannot_be_overridden(collector_factory, store_client):
    collector = collector_factory(ingest_tokens="t0ken-a=acme, t0ken-b")
    request = chat_span_request(1, service="tenant-svc")
    request.resource_spans[0].resource.attributes.append(kv("llmsight.tenant", "evil-corp"))
    body = request.SerializeToString()
    url = f"{collector.endpoints.http}/v1/traces"
    proto = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(url, content=body, headers=proto).status_code == 401
    assert httpx.post(url, content=body, headers={**proto, "Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(url, content=body, headers={**proto, "Authorization": "Bearer t0ken-a"}).status_code == 200
    collector.wait_until_stored()
    tenants = store_client.query(
        "SELECT ResourceAttributes['llmsight.tenant'] FROM otel_traces WHERE ServiceName = 'tenant-svc'"
    ).result_rows
    assert tenants == [("acme",)]

    with grpc.insecure_channel(collector.endpoints.grpc) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.Export(chat_span_request(1), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.Export(
            chat_span_request(2, service="grpc-auth"), metadata=(("authorization", "Bearer t0ken-b"),), timeout=10
        )
    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_traces WHERE ServiceName = 'grpc-auth'")) == 2


def test_grpc_partial_success(collector, store_client):
    request = chat_span_request(3, service="grpc-partial")
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"short"
    with grpc.insecure_channel(collector.endpoints.grpc) as channel:
        response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=10)
    assert response.partial_success.rejected_spans == 1
    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_traces WHERE ServiceName = 'grpc-partial'")) == 2


def test_query_endpoint_reads_but_never_writes(collector, store_url):
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    database = parse_store_url(store_url).database
    httpx.post(
        f"{collector.endpoints.http}/v1/traces",
        content=chat_span_request(4, service="via-proxy").SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    collector.wait_until_stored()
    client = open_client(f"{collector.endpoints.query}/{database}", compress=False, access_token=collector.query_token)
    assert client.query("SELECT count() FROM llm_calls WHERE ServiceName = 'via-proxy'").result_rows == [(4,)]
    with pytest.raises(Exception, match="only SELECT"):
        client.command("INSERT INTO otel_traces (TraceId) VALUES ('x')")
    with pytest.raises(Exception, match="only SELECT"):
        client.command("DROP TABLE llm_calls")
    assert client.query("SELECT count() FROM llm_calls WHERE ServiceName = 'via-proxy'").result_rows == [(4,)]


def test_query_endpoint_asks_for_a_token_even_when_ingest_has_none(collector):
    """Another user of the machine reaches 127.0.0.1 too: the endpoint wants serve's own token (serve.json)."""
    url = f"{collector.endpoints.query}/"
    assert httpx.post(url, content="SELECT 1").status_code == 401
    ok = httpx.post(url, content="SELECT 1", headers={"Authorization": f"Bearer {collector.query_token}"})
    assert ok.status_code == 200 and ok.text.strip() == "1"


def test_query_endpoint_asks_for_the_same_token(collector_factory, store_url):
    from llmsight.store.url import parse_store_url

    collector = collector_factory(ingest_tokens="q-token")
    database = parse_store_url(store_url).database
    url = f"{collector.endpoints.query}/?database={database}"
    assert httpx.post(url, content="SELECT 1").status_code == 401
    assert httpx.post(url, content="SELECT 1", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = httpx.post(url, content="SELECT 41 + 1", headers={"Authorization": "Bearer q-token"})
    assert ok.status_code == 200 and ok.text.strip() == "42"


def test_serve_warns_loudly_when_exposed_without_a_token(monkeypatch):
    from typer.testing import CliRunner

    from llmsight.cli import serve as serve_module
    from llmsight.cli.main import app

    # stop right after the checks and the banner: nothing is served
    monkeypatch.setattr(serve_module.asyncio, "run", lambda coro: coro.close())
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--clickhouse-url", "chdb:///tmp/unused-x"])
    assert "WARNING" in result.output and "without an ingest token" in result.output
    quiet = CliRunner().invoke(app, ["serve", "--host", "127.0.0.1", "--clickhouse-url", "chdb:///tmp/unused-x"])
    assert "WARNING" not in quiet.output


def test_only_a_gateway_token_may_name_a_tenant(collector_factory, store_client):
    """An operator's (unbound) token cannot write as a tenant; a ``token=*`` gateway token can."""
    collector = collector_factory(ingest_tokens="op-token, gw-token=*")
    url = f"{collector.endpoints.http}/v1/traces"
    for token, service in (("op-token", "claim-op"), ("gw-token", "claim-gw")):
        request = chat_span_request(1, service=service)
        request.resource_spans[0].resource.attributes.append(kv("llmsight.tenant", "acme"))
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
        assert httpx.post(url, content=request.SerializeToString(), headers=headers).status_code == 200
    collector.wait_until_stored()
    tenants = store_client.query(
        "SELECT ServiceName, ResourceAttributes['llmsight.tenant'] FROM otel_traces "
        "WHERE ServiceName LIKE 'claim-%' ORDER BY ServiceName"
    ).result_rows
    assert tenants == [("claim-gw", "acme"), ("claim-op", "")]


def test_health_and_metrics_reveal_little_without_a_token(collector_factory):
    """On a public port: /healthz says ok or degraded to anyone, its detail and /metrics need a token."""
    collector = collector_factory(ingest_tokens="op-token,app-token=acme")
    base = collector.endpoints.http
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/metrics").status_code == 401
    for token in ("op-token", "app-token"):
        scraped = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "llmsight_received_spans_total" in scraped.text

    from tests.conftest import free_port

    down = collector_factory(
        clickhouse_url=f"http://default:secret-pw@127.0.0.1:{free_port()}/otel", ingest_tokens="op-token"
    )
    try:
        assert httpx.get(f"{down.endpoints.http}/healthz").json() == {"status": "degraded"}
        detail = httpx.get(f"{down.endpoints.http}/healthz", headers={"Authorization": "Bearer op-token"}).json()
        assert "cannot open store" in detail["store"]
    finally:
        down.exporter._abandon.set()  # do not wait for a ClickHouse that will never come
