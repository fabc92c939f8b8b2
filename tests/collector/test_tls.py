"""Both receivers over TLS, with the SDK's own exporters trusting a test certificate."""

from __future__ import annotations

import subprocess

import grpc
import httpx2 as httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.collector.otlp_bodies import chat_span_request


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_http_and_grpc_over_tls(collector_factory, store_client, certificate, monkeypatch):
    cert, key = certificate
    # requests lets these variables override the exporter's certificate_file
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    collector = collector_factory(tls_cert_file=str(cert), tls_key_file=str(key))
    assert collector.endpoints.http.startswith("https://")
    body = chat_span_request(2, service="tls-raw").SerializeToString()
    response = httpx.post(
        f"{collector.endpoints.http}/v1/traces", content=body,
        headers={"Content-Type": "application/x-protobuf"}, verify=str(cert),
    )  # fmt: skip
    assert response.status_code == 200
    with pytest.raises(httpx.TransportError):  # plain HTTP is refused
        httpx.post(collector.endpoints.http.replace("https", "http") + "/v1/traces", content=body)

    for service, exporter in (
        ("tls-http", HttpExporter(endpoint=f"{collector.endpoints.http}/v1/traces", certificate_file=str(cert))),
        (
            "tls-grpc",
            GrpcExporter(
                endpoint=f"https://{collector.endpoints.grpc}",
                credentials=grpc.ssl_channel_credentials(root_certificates=cert.read_bytes()),
            ),
        ),
    ):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("chat m") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
        provider.shutdown()
    collector.wait_until_stored()
    rows = store_client.query(
        "SELECT ServiceName, count() FROM otel_traces WHERE ServiceName LIKE 'tls-%' GROUP BY 1 ORDER BY 1"
    ).result_rows
    assert rows == [("tls-grpc", 1), ("tls-http", 1), ("tls-raw", 2)]


def test_tls_settings_mistakes_are_clear_errors(tmp_path):
    from llmsight.collector.server import Collector
    from llmsight.settings import Settings

    with pytest.raises(ValueError, match="both a certificate and a key"):
        Collector(Settings(clickhouse_url=f"chdb://{tmp_path}", tls_cert_file="/x.pem"))
    with pytest.raises(ValueError, match="/missing.key does not exist"):
        Collector(Settings(clickhouse_url=f"chdb://{tmp_path}", tls_cert_file=__file__, tls_key_file="/missing.key"))
