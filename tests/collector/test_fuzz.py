"""Hostile input: random, mutated, truncated, oversized and malformed OTLP never gets a 5xx.

Hypothesis drives the bodies; one collector serves a whole test, and must still serve (and have
stored every acknowledged valid span, with nothing set aside) at the end.
"""

from __future__ import annotations

import gzip
import json

import grpc
import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.collector.otlp_bodies import chat_span_request, json_body, kv

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PROTO = {"Content-Type": "application/x-protobuf"}
VALID = chat_span_request(3, service="fuzz-valid").SerializeToString()


@pytest.fixture
def fuzz_collector(collector_factory):
    collector = collector_factory(max_body_bytes=2_000_000)
    yield collector
    collector.wait_until_stored()
    metrics = httpx.get(f"{collector.endpoints.http}/metrics").text
    assert "llmsight_dead_letter_total 0" in metrics


def _post(collector, body: bytes, headers: dict[str, str]) -> int:
    response = httpx.post(f"{collector.endpoints.http}/v1/traces", content=body, headers=headers, timeout=30)
    assert response.status_code < 500, response.text
    return response.status_code


@FUZZ
@given(body=st.binary(max_size=4096))
def test_random_protobuf_bodies(fuzz_collector, body):
    assert _post(fuzz_collector, body, PROTO) in (200, 400)


@FUZZ
@given(data=st.data())
def test_mutated_and_truncated_valid_bodies(fuzz_collector, data):
    body = bytearray(VALID)
    for _ in range(data.draw(st.integers(0, 8))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    assert _post(fuzz_collector, bytes(body[:cut]), PROTO) in (200, 400)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["resourceSpans", "x", "scopeSpans"]), json_values, max_size=3))
def test_random_json_bodies(fuzz_collector, doc):
    assert _post(fuzz_collector, json.dumps(doc).encode(), {"Content-Type": "application/json"}) in (200, 400)


@FUZZ
@given(body=st.binary(max_size=2048), valid=st.booleans())
def test_gzip_bodies(fuzz_collector, body, valid):
    payload = gzip.compress(VALID if valid else body)
    status = _post(fuzz_collector, payload, {**PROTO, "Content-Encoding": "gzip"})
    assert status == 200 if valid else status in (200, 400)


def test_specific_hostile_shapes(fuzz_collector, store_client):
    collector = fuzz_collector
    # deep nesting beyond protobuf's recursion limit, written by hand (the library refuses to build it)
    value = b"\x0a" + _len(b"leaf")  # AnyValue.string_value
    for _ in range(150):
        value = b"\x2a" + _len(b"\x0a" + _len(value))  # AnyValue.array_value.values[0]
    attribute = b"\x0a" + _len(b"x") + b"\x12" + _len(value)  # KeyValue
    span = b"\x0a\x10" + b"a" * 16 + b"\x12\x08" + b"b" * 8 + b"\x4a" + _len(attribute)  # Span.attributes
    body = b"\x0a" + _len(b"\x12" + _len(b"\x12" + _len(span)))
    assert _post(collector, body, PROTO) == 400
    # JSON nested deeper than Python's recursion
    nested = "[" * 5000 + "]" * 5000
    body = ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": ' + nested + "}]}]}]}").encode()
    assert _post(collector, body, {"Content-Type": "application/json"}) == 400
    # invalid UTF-8 in a string field (span name, field 5 of Span)
    span_bytes = b"\x0a\x10" + b"a" * 16 + b"\x12\x08" + b"b" * 8 + b"\x2a\x03\xff\xfe\xfd"
    raw = b"\x0a" + _len(b"\x12" + _len(b"\x12" + _len(span_bytes)))
    assert _post(collector, raw, PROTO) == 400
    # a huge attribute value is stored whole
    big = chat_span_request(1, service="fuzz-big")
    big.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("big", "z" * 1_500_000))
    assert _post(collector, big.SerializeToString(), PROTO) == 200
    # over the limit: 413
    big.resource_spans[0].scope_spans[0].spans[0].attributes.append(kv("bigger", "z" * 600_000))
    assert _post(collector, big.SerializeToString(), PROTO) == 413
    # invalid ids and timestamps out of range: dropped and reported, the rest kept
    mixed = chat_span_request(4, service="fuzz-mixed")
    spans = mixed.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x00" * 3
    spans[1].start_time_unix_nano = 2**63
    response = httpx.post(f"{collector.endpoints.http}/v1/traces", content=mixed.SerializeToString(), headers=PROTO)
    assert response.status_code == 200
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == 2
    # an invalid hex id in JSON is a 400
    assert _post(collector, json_body("nothex" * 5 + "zz", "00" * 8), {"Content-Type": "application/json"}) == 400
    collector.wait_until_stored()
    stored = store_client.query(
        "SELECT ServiceName, count() FROM otel_traces WHERE ServiceName IN ('fuzz-big', 'fuzz-mixed') "
        "GROUP BY ServiceName ORDER BY ServiceName"
    ).result_rows
    assert stored == [("fuzz-big", 1), ("fuzz-mixed", 2)]
    assert int(store_client.command("SELECT max(length(SpanAttributes['big'])) FROM otel_traces")) == 1_500_000


@FUZZ
@given(body=st.binary(max_size=2048))
def test_grpc_random_bodies(fuzz_collector, body):
    with grpc.insecure_channel(fuzz_collector.endpoints.grpc) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=lambda raw: raw,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        try:
            export(body, timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc
    # still serving
    with grpc.insecure_channel(fuzz_collector.endpoints.grpc) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(ExportTraceServiceRequest(), timeout=10)


def _len(payload: bytes) -> bytes:
    """A protobuf length prefix (varint) followed by the payload."""
    n, out = len(payload), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + payload
