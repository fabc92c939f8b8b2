"""OTLP/HTTP receiver behaviour: encodings, partial success, and every error path with its status."""

from __future__ import annotations

import gzip
import os
import time
import zlib

import httpx2 as httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.otlp_bodies import chat_span_request, json_body

PROTO = {"Content-Type": "application/x-protobuf"}


def post(collector, body: bytes, headers: dict[str, str], path: str = "/v1/traces") -> httpx.Response:
    """Send, then wait until what was acknowledged is in ClickHouse (acknowledged = durable on disk)."""
    response = httpx.post(f"{collector.endpoints.http}{path}", content=body, headers=headers, timeout=30)
    collector.wait_until_stored()
    return response


def count(client, where: str) -> int:
    return int(client.command(f"SELECT count() FROM otel_traces WHERE {where}"))


def assert_still_serving(collector, client) -> None:
    request = chat_span_request(1, service="after-error")
    response = post(collector, request.SerializeToString(), PROTO)
    assert response.status_code == 200
    assert count(client, "ServiceName = 'after-error'") >= 1


def test_protobuf_request_stored(collector, store_client):
    body = chat_span_request(50, service="proto").SerializeToString()
    response = post(collector, body, PROTO)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-protobuf")
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 0
    assert count(store_client, "ServiceName = 'proto'") == 50


def test_handwritten_json_with_hex_ids(collector, store_client):
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    response = post(collector, json_body(trace_id, span_id), {"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    row = store_client.query(
        "SELECT SpanId, StatusCode, StatusMessage, SpanAttributes['gen_ai.usage.input_tokens'], "
        "SpanAttributes['gen_ai.request.temperature'], SpanAttributes['gen_ai.response.finish_reasons'] "
        f"FROM otel_traces WHERE TraceId = '{trace_id}'"
    ).result_rows
    assert row == [(span_id, "Error", "boom", "42", "0.5", '["stop"]')]
    call = store_client.query(
        f"SELECT Provider, InputTokens, FinishReasons, IsError FROM llm_calls WHERE TraceId = '{trace_id}'"
    ).result_rows
    assert call == [("ollama", 42, ["stop"], 1)]


def test_gzip_body(collector, store_client):
    body = gzip.compress(chat_span_request(10, service="gz").SerializeToString())
    response = post(collector, body, {**PROTO, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert count(store_client, "ServiceName = 'gz'") == 10


def test_partial_success_keeps_valid_spans(collector, store_client):
    request = chat_span_request(5, service="partial")
    bad = request.resource_spans[0].scope_spans[0].spans
    bad[1].trace_id = b"\x01\x02"  # wrong length
    bad[3].span_id = b""  # missing
    response = post(collector, request.SerializeToString(), PROTO)
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 2
    assert "invalid" in parsed.partial_success.error_message
    assert count(store_client, "ServiceName = 'partial'") == 3


def _status(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"].startswith("application/x-protobuf"):
        return status_pb2.Status.FromString(response.content)
    from google.protobuf import json_format

    return json_format.Parse(response.content, status_pb2.Status())


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff garbage", PROTO, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
        ),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (b"hello", {"Content-Type": "text/plain"}, 415),
        (b"hello", {}, 415),
        (b"\x1f\x8b not gzip", {**PROTO, "Content-Encoding": "gzip"}, 400),
        (b"x", {**PROTO, "Content-Encoding": "br"}, 415),
    ],
)
def test_bad_input_gets_4xx_with_status_message(collector, store_client, body, headers, status):
    response = post(collector, body, headers)
    assert response.status_code == status
    message = _status(response)
    assert message.message
    assert_still_serving(collector, store_client)


def test_oversize_body_is_413(collector_factory, store_client):
    collector = collector_factory(max_body_bytes=10_000)
    big = chat_span_request(100, content_bytes=500).SerializeToString()
    assert len(big) > 10_000
    response = post(collector, big, PROTO)
    assert response.status_code == 413
    assert_still_serving(collector, store_client)


def test_gzip_bomb_is_413_without_inflating_it(collector_factory, store_client):
    collector = collector_factory(max_body_bytes=1_000_000)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    bomb = compressor.compress(b"\0" * 200_000_000) + compressor.flush()
    assert len(bomb) < 1_000_000
    response = post(collector, bomb, {**PROTO, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert_still_serving(collector, store_client)


def test_too_much_in_flight_is_429_with_retry_after(collector_factory, store_client):
    collector = collector_factory(queue_max_bytes=1)
    import concurrent.futures

    bodies = [chat_span_request(256, service="flood").SerializeToString() for _ in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda body: post(collector, body, PROTO), bodies))
    codes = {r.status_code for r in responses}
    assert codes <= {200, 429}
    assert 429 in codes and 200 in codes
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.headers["retry-after"] == "1"
    accepted = sum(1 for r in responses if r.status_code == 200)
    assert count(store_client, "ServiceName = 'flood'") == 256 * accepted


def _break_store(collector):
    """Make every insert fail as if ClickHouse were unreachable; returns a function that mends it."""
    exporter = collector.exporter
    real_factory = exporter._client_factory

    def unreachable():
        raise ConnectionError("ClickHouse is down")

    exporter._client_factory = unreachable
    exporter._client = None

    def mend() -> None:
        exporter._client_factory = real_factory

    return mend


def test_store_outage_acknowledged_data_waits_in_spool_then_lands(collector, store_client):
    mend = _break_store(collector)
    bodies = [chat_span_request(5, service="outage").SerializeToString() for _ in range(3)]
    responses = [httpx.post(f"{collector.endpoints.http}/v1/traces", content=b, headers=PROTO) for b in bodies]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert collector.spool.size() > 0
    assert count(store_client, "ServiceName = 'outage'") == 0
    mend()
    collector.wait_until_stored()
    assert count(store_client, "ServiceName = 'outage'") == 15


def test_full_spool_is_503_with_retry_after(collector_factory, store_client):
    collector = collector_factory(spool_max_bytes=20_000)
    mend = _break_store(collector)
    url = f"{collector.endpoints.http}/v1/traces"
    codes = [
        httpx.post(url, content=chat_span_request(20, service="full").SerializeToString(), headers=PROTO).status_code
        for _ in range(6)
    ]
    assert codes[0] == 200 and codes[-1] == 503
    accepted = codes.count(200)
    rejected = httpx.post(url, content=chat_span_request(1).SerializeToString(), headers=PROTO)
    assert rejected.status_code == 503 and int(rejected.headers["retry-after"]) > 0
    mend()
    collector.wait_until_stored()
    assert count(store_client, "ServiceName = 'full'") == 20 * accepted
    assert_still_serving(collector, store_client)


def test_metrics_logs_health_and_prometheus(collector):
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    metrics = ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "gen_ai.client.token.usage"
    metric.sum.data_points.add().as_int = 5
    assert post(collector, metrics.SerializeToString(), PROTO, "/v1/metrics").status_code == 200
    post(collector, chat_span_request(2).SerializeToString(), PROTO)
    assert httpx.get(f"{collector.endpoints.http}/healthz").json() == {"status": "ok"}
    text = httpx.get(f"{collector.endpoints.http}/metrics").text
    values = dict(line.split(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert int(values["llmsight_received_metric_points_total"]) == 1
    assert int(values["llmsight_stored_spans_total"]) >= 2
    assert "llmsight_spool_bytes" in values


def test_batch_that_clickhouse_rejects_is_set_aside_and_the_rest_goes_on(collector, store_client):
    exporter = collector.exporter
    real_factory = exporter._client_factory

    class Rejecting:  # the Python decoder inserts rows, the SQL decoder runs INSERT ... SELECT
        def insert(self, *args, **kwargs):
            raise RuntimeError("Code: 53. DB::Exception: Type mismatch in VALUES section. (TYPE_MISMATCH)")

        command = insert

        def close(self) -> None:
            pass

    exporter._client_factory = Rejecting
    exporter._client = None
    try:
        response = httpx.post(
            f"{collector.endpoints.http}/v1/traces",
            content=chat_span_request(2, service="poison").SerializeToString(),
            headers=PROTO,
        )
        assert response.status_code == 200
        collector.wait_until_stored(timeout=60)  # five tries with backoff, then set aside
    finally:
        exporter._client_factory = real_factory
        exporter._client = None
    dead = list((collector.spool.dir / "dead-letter").glob("batch-*.bin"))
    assert len(dead) == 1
    assert "llmsight_dead_letter_total 1" in httpx.get(f"{collector.endpoints.http}/metrics").text
    assert count(store_client, "ServiceName = 'poison'") == 0
    assert_still_serving(collector, store_client)


def test_server_down_at_start_still_accepts_into_the_spool(collector_factory):
    from tests.conftest import free_port

    collector = collector_factory(clickhouse_url=f"http://default:pw@127.0.0.1:{free_port()}/otel")
    health = httpx.get(f"{collector.endpoints.http}/healthz").json()
    assert health["status"] == "degraded" and "cannot open store" in health["store"]
    body = chat_span_request(4, service="early").SerializeToString()
    response = httpx.post(f"{collector.endpoints.http}/v1/traces", content=body, headers=PROTO)
    assert response.status_code == 200  # durable in the spool, inserted once ClickHouse is reachable
    assert collector.spool.size() > 0
    deadline = time.monotonic() + 10
    while collector.telemetry.get("llmsight_insert_errors_total") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert collector.telemetry.get("llmsight_insert_errors_total") > 0  # it keeps trying
    collector.exporter._abandon.set()  # do not wait for a ClickHouse that will never come
