"""Receivers one body cannot stall: element bounds, in-flight memory whatever the framing, receive
timeouts against slow-loris, and records older than the retention window rejected, not dropped later.

All against real collectors (HTTP and gRPC receivers on free ports, real chDB).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import grpc
import httpx2 as httpx
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.collector.otlp_bodies import chat_span_request

PROTO = {"Content-Type": "application/x-protobuf"}
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
HOSTILE = b"\x0a\x00" * (16 << 20)  # 32 MiB: sixteen million empty ResourceSpans
DAY_NS = 86_400 * 10**9


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def metric(collector, name: str) -> float:
    text = httpx.get(f"{collector.endpoints.http}/metrics", timeout=10).text
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def grpc_export(collector, body: bytes) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(collector.endpoints.grpc, options=[("grpc.max_send_message_length", -1)]) as channel:
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
        try:
            export(body, timeout=120)
            return grpc.StatusCode.OK, ""
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""


class SlowUpload:
    """A chunked OTLP/HTTP upload that sends ``held`` bytes of ``body``, then waits for ``finish()``: while it
    waits it holds that much of the in-flight bound. ``status`` is its answer once finished."""

    def __init__(self, collector, body: bytes, held: int) -> None:
        self.collector, self.release, self.status = collector, threading.Event(), 0

        def chunks() -> Iterator[bytes]:
            yield body[:held]
            self.release.wait(30)
            yield body[held:]

        def post() -> None:
            url = f"{collector.endpoints.http}/v1/traces"
            self.status = httpx.post(url, content=chunks(), headers=PROTO).status_code

        self.worker = threading.Thread(target=post)
        self.worker.start()
        wait_for(lambda: metric(collector, "llmsight_inflight_bytes") >= held, 10, "the slow upload in flight")

    def finish(self) -> int:
        self.release.set()
        self.worker.join(30)
        wait_for(lambda: metric(self.collector, "llmsight_inflight_bytes") == 0, 10, "in-flight bytes released")
        return self.status


def test_hostile_body_is_refused_without_stalling_others(collector, store_client):
    """Before: the 32 MiB body took ~10-80 s, and a one-span request sent meanwhile waited as long."""
    url = f"{collector.endpoints.http}/v1/traces"
    for transport in ("http", "grpc"):
        outcome: dict[str, object] = {}

        def hostile(transport: str = transport, outcome: dict[str, object] = outcome) -> None:
            if transport == "http":
                response = httpx.post(url, content=HOSTILE, headers=PROTO, timeout=120)
                outcome["status"] = response.status_code
                outcome["message"] = status_pb2.Status.FromString(response.content).message
            else:
                outcome["status"], outcome["message"] = grpc_export(collector, HOSTILE)

        worker = threading.Thread(target=hostile)
        worker.start()
        time.sleep(0.2)  # let the hostile body get going (not needed for correctness)
        start = time.monotonic()
        one = chat_span_request(1, service=f"prompt-{transport}").SerializeToString()
        if transport == "http":
            assert httpx.post(url, content=one, headers=PROTO, timeout=60).status_code == 200
        else:
            assert grpc_export(collector, one)[0] == grpc.StatusCode.OK
        assert time.monotonic() - start < 5
        worker.join(120)
        assert outcome["status"] in (400, grpc.StatusCode.INVALID_ARGUMENT)
        assert "more than 1000000 elements" in str(outcome["message"])
    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_traces WHERE ServiceName LIKE 'prompt-%'")) == 2


def test_element_limit_applies_to_protobuf_json_and_grpc(collector_factory, store_client):
    collector = collector_factory(max_request_elements=300)
    url = f"{collector.endpoints.http}/v1/traces"
    big = chat_span_request(100, service="too-many")  # 100 spans x (span + 7 attributes and their values)
    small = chat_span_request(10, service="few")
    response = httpx.post(url, content=big.SerializeToString(), headers=PROTO)
    assert response.status_code == 400
    assert "more than 300 elements" in status_pb2.Status.FromString(response.content).message
    code, message = grpc_export(collector, big.SerializeToString())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "more than 300 elements" in message
    from google.protobuf import json_format

    as_json = json_format.MessageToJson(big).encode()
    response = httpx.post(url, content=as_json, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "JSON objects and arrays" in response.text
    assert httpx.post(url, content=small.SerializeToString(), headers=PROTO).status_code == 200
    collector.wait_until_stored()
    rows = store_client.query(
        "SELECT ServiceName, count() FROM otel_traces WHERE ServiceName IN ('too-many', 'few') GROUP BY ServiceName"
    ).result_rows
    assert rows == [("few", 10)]


def test_chunked_bodies_count_against_the_in_flight_bound(collector_factory, store_client):
    """A chunked upload declares no size; it is charged as it streams, so a second one is refused with 429
    while the first holds most of the bound (before: chunked bodies were charged 0 bytes)."""
    collector = collector_factory(queue_max_bytes=1 << 20)
    url = f"{collector.endpoints.http}/v1/traces"
    body = chat_span_request(1500, service="chunked").SerializeToString()  # ~1 MiB
    first = SlowUpload(collector, body, held=900 * 1024)
    second = httpx.post(url, content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]), headers=PROTO)
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert first.finish() == 200
    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_traces WHERE ServiceName = 'chunked'")) == 1500


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_slow_loris_connections_are_closed_and_others_still_served(collector_factory):
    collector = collector_factory(http_header_timeout_s=1, http_body_timeout_s=1)
    port = int(collector.endpoints.http.rsplit(":", 1)[1])
    half_headers, slow_bodies = [], []
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: appli")
        half_headers.append(sock)
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n")
        sock.sendall(b"Content-Length: 100000\r\n\r\n" + b"\x0a" * 10)
        slow_bodies.append(sock)
    response = httpx.post(
        f"{collector.endpoints.http}/v1/traces", content=chat_span_request(1).SerializeToString(), headers=PROTO
    )
    assert response.status_code == 200
    pending = half_headers + slow_bodies
    wait_for(lambda: all(_closed_by_server(s) for s in pending), 15, "the server to close slow connections")
    for sock in pending:
        sock.close()
    wait_for(lambda: metric(collector, "llmsight_inflight_bytes") == 0, 10, "slow bodies' admission released")


def test_the_query_endpoint_closes_slow_loris_connections_too(collector_factory):
    collector = collector_factory(http_header_timeout_s=1)
    port = int(collector.endpoints.query.rsplit(":", 1)[1])
    pending = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Ty")
        pending.append(sock)
    headers = {"Authorization": f"Bearer {collector.query_token}"}
    assert httpx.post(f"{collector.endpoints.query}/", content="SELECT 1", headers=headers).text.strip() == "1"
    wait_for(lambda: all(_closed_by_server(s) for s in pending), 15, "the query endpoint to close slow connections")
    for sock in pending:
        sock.close()


def test_connections_past_the_cap_are_closed_on_accept(collector_factory):
    collector = collector_factory(http_max_connections=5)
    port = int(collector.endpoints.http.rsplit(":", 1)[1])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
    wait_for(lambda: sum(_closed_by_server(s) for s in socks) == 7, 5, "7 of 12 connections closed")
    for sock in socks:
        sock.close()
    url = f"{collector.endpoints.http}/v1/traces"
    wait_for(
        lambda: httpx.post(url, content=chat_span_request(1).SerializeToString(), headers=PROTO).status_code == 200,
        10,
        "a request once the sockets are gone",
    )


def test_records_older_than_retention_are_rejected_not_counted_as_stored(collector_factory, store_client):
    collector = collector_factory(retention_days=30, retention_per_table="otel_logs=7")
    now = time.time_ns()
    request = chat_span_request(5, service="aged")
    spans = request.resource_spans[0].scope_spans[0].spans
    for span in spans[:3]:
        span.start_time_unix_nano, span.end_time_unix_nano = now - 40 * DAY_NS, now - 40 * DAY_NS + 10**6
    response = httpx.post(f"{collector.endpoints.http}/v1/traces", content=request.SerializeToString(), headers=PROTO)
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert response.status_code == 200 and partial.rejected_spans == 3
    assert "older than the retention window (30 days) of otel_traces" in partial.error_message

    logs = logs_service_pb2.ExportLogsServiceRequest()
    scope = logs.resource_logs.add().scope_logs.add()
    for age_days in (10, 1):  # the logs table keeps 7 days
        record = scope.log_records.add()
        record.time_unix_nano = now - age_days * DAY_NS
        record.body.string_value = f"{age_days} days old"
    with grpc.insecure_channel(collector.endpoints.grpc) as channel:
        answer = logs_service_pb2_grpc.LogsServiceStub(channel).Export(logs, timeout=30)
    assert answer.partial_success.rejected_log_records == 1
    assert "(7 days) of otel_logs" in answer.partial_success.error_message

    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_traces WHERE ServiceName = 'aged'")) == 2
    assert store_client.query("SELECT Body FROM otel_logs").result_rows == [("1 days old",)]
    assert metric(collector, "llmsight_stored_spans_total") == 2
    assert metric(collector, "llmsight_rejected_spans_total") == 3
    assert metric(collector, "llmsight_stored_log_records_total") == 1
    assert metric(collector, "llmsight_rejected_log_records_total") == 1
    # an empty gRPC trace export is still fine
    with grpc.insecure_channel(collector.endpoints.grpc) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(request.__class__(), timeout=10)


def test_grpc_message_is_reserved_before_it_is_read(collector_factory, store_client):
    """gRPC declares no size, so a call reserves the largest message (max_body_bytes) in the in-flight bound
    before reading: while a slow HTTP upload holds the bound a gRPC call is refused RESOURCE_EXHAUSTED unread
    (before: the whole message was read, then refused), and gets in once the bound is free."""
    collector = collector_factory(queue_max_bytes=1536 << 10, max_body_bytes=1 << 20)  # 0.7 + 1 MiB > 1.5
    body = chat_span_request(1200, service="slow-http").SerializeToString()  # ~0.8 MiB
    upload = SlowUpload(collector, body, held=700 * 1024)
    small = chat_span_request(2, service="grpc-after").SerializeToString()
    code, message = grpc_export(collector, small)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "busy" in message
    assert upload.finish() == 200
    assert grpc_export(collector, small)[0] == grpc.StatusCode.OK
    collector.wait_until_stored()
    rows = store_client.query(
        "SELECT ServiceName, count() FROM otel_traces WHERE ServiceName IN ('slow-http', 'grpc-after') "
        "GROUP BY ServiceName ORDER BY ServiceName"
    ).result_rows
    assert rows == [("grpc-after", 2), ("slow-http", 1200)]


def test_many_concurrent_small_grpc_exports_all_get_in(collector, store_client):
    """No count of concurrent calls is imposed by default (it was 4): small calls only reserve their share."""
    body = chat_span_request(5, service="many-grpc").SerializeToString()
    codes: list[grpc.StatusCode] = []
    threads = [threading.Thread(target=lambda: codes.append(grpc_export(collector, body)[0])) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert codes == [grpc.StatusCode.OK] * 16
    collector.wait_until_stored()
    assert int(store_client.command("SELECT count() FROM otel_traces WHERE ServiceName = 'many-grpc'")) == 80


def test_grpc_call_without_a_message_is_invalid(collector):
    with grpc.insecure_channel(collector.endpoints.grpc) as channel:
        export = channel.stream_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
        try:
            export(iter(()), timeout=10)
            raise AssertionError("an empty call was accepted")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT and "no request message" in (exc.details() or "")
