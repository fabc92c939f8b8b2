"""instrument()/uninstrument(), settings, never hurting the app, and the OTLP export path."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import wrapt
from fake_openai import chat
from openai.resources.chat.completions.completions import Completions
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import llmsight
from llmsight.instrumentation import exporting, message_json, openai_wrappers, safety
from llmsight.instrumentation.instrumentor import LLMSightInstrumentor

from .helpers import attr_json, llm_spans, only_span

MESSAGES = [{"role": "user", "content": "hello"}]
REPO = Path(__file__).resolve().parents[2]


def test_instrument_twice_is_harmless(provider, exporter, client, fake):
    original = Completions.__dict__["create"]
    llmsight.instrument(tracer_provider=provider)
    llmsight.instrument(tracer_provider=provider)
    try:
        wrapper = Completions.__dict__["create"]
        assert isinstance(wrapper, wrapt.FunctionWrapper)
        assert wrapper.__wrapped__ is original  # wrapped once, not twice
        client.chat.completions.create(model="m", messages=MESSAGES)
        only_span(exporter)
    finally:
        llmsight.uninstrument()


def test_uninstrument_restores_the_originals(provider, exporter, client, fake):
    from openai.resources.embeddings import Embeddings

    originals = (Completions.__dict__["create"], Embeddings.__dict__["create"])
    llmsight.instrument(tracer_provider=provider)
    assert Completions.__dict__["create"] is not originals[0]
    llmsight.uninstrument()
    assert (Completions.__dict__["create"], Embeddings.__dict__["create"]) == originals
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert llm_spans(exporter) == []
    llmsight.uninstrument()  # twice is harmless too


def test_capture_content_off(provider, exporter, client, fake):
    llmsight.instrument(tracer_provider=provider, capture_content=False)
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    a = only_span(exporter).attributes
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert a["gen_ai.usage.input_tokens"] == 11  # everything else is still there


def test_capture_content_env_switch_turns_it_off(provider, exporter, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
    llmsight.instrument(tracer_provider=provider, capture_content=True)
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    assert "gen_ai.input.messages" not in only_span(exporter).attributes


def test_size_cap_truncates_with_marker_and_keeps_json(provider, exporter, client, fake):
    llmsight.instrument(tracer_provider=provider, max_content_length=500)
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 5000}])
    finally:
        llmsight.uninstrument()
    span = only_span(exporter)
    raw = span.attributes["gen_ai.input.messages"]
    assert len(raw) <= 500
    content = json.loads(raw)[0]["parts"][0]["content"]
    assert content.endswith(message_json.TRUNCATION_MARKER)
    assert attr_json(span, "gen_ai.output.messages")  # the span itself is kept, output still there


def test_builtin_redaction(provider, exporter, client, fake):
    secret = "mail jane.doe@example.com card 4111 1111 1111 1111 key sk-proj-abcdefghijklmnop1234 id 1234567890123"
    fake.enqueue(chat(f"Sure: {secret}"))
    llmsight.instrument(tracer_provider=provider, redact=True)
    try:
        result = client.chat.completions.create(model="m", messages=[{"role": "user", "content": secret}])
    finally:
        llmsight.uninstrument()
    assert secret in result.choices[0].message.content  # the app's data is untouched
    span = only_span(exporter)
    for name in ("gen_ai.input.messages", "gen_ai.output.messages"):
        text = span.attributes[name]
        assert "jane.doe@example.com" not in text and "4111" not in text and "sk-proj" not in text
        assert "[REDACTED_EMAIL]" in text and "[REDACTED_CARD]" in text and "[REDACTED_API_KEY]" in text
        assert "1234567890123" in text  # not a valid card number (Luhn): kept


def test_redaction_callable(provider, exporter, client, fake):
    llmsight.instrument(tracer_provider=provider, redact=lambda text: text.replace("hello", "<greeting>"))
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    parts = attr_json(only_span(exporter), "gen_ai.input.messages")[0]["parts"]
    assert parts[0]["content"] == "<greeting>"


def test_a_bug_in_llmsight_never_reaches_the_app(provider, exporter, client, fake, monkeypatch, caplog):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("llmsight bug")

    monkeypatch.setattr(message_json, "chat_input_json", broken)
    monkeypatch.setattr(message_json, "chat_output_json", broken)
    monkeypatch.setattr(safety, "_reported", set())
    llmsight.instrument(tracer_provider=provider)
    try:
        with caplog.at_level(logging.WARNING, logger="llmsight.instrumentation"):
            first = client.chat.completions.create(model="m", messages=MESSAGES)
            second = client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    assert first.choices[0].message.content == second.choices[0].message.content == "echo: hello"
    reports = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(reports) == 1  # logged once, not per call
    assert llm_spans(exporter) == []  # the call went through untraced


def test_a_bug_while_recording_the_response_still_ends_the_span(provider, exporter, client, fake, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("llmsight bug")

    monkeypatch.setattr(message_json, "chat_output_json", broken)
    llmsight.instrument(tracer_provider=provider)
    try:
        result = client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        llmsight.uninstrument()
    assert result.choices[0].message.content == "echo: hello"
    assert only_span(exporter).attributes["gen_ai.request.model"] == "m"


def test_entry_point_for_opentelemetry_instrument(provider, exporter, client, fake):
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "llmsight"]
    cls = ep.load()
    assert cls is LLMSightInstrumentor
    instrumentor = cls()
    instrumentor.instrument(tracer_provider=provider, skip_dep_check=True, raise_exception_on_conflict=True)
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    only_span(exporter)
    assert not isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)


def test_patching_is_lazy_and_optional():
    code = "import sys, llmsight; assert 'openai' not in sys.modules; print('light')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "light", out.stderr


# --- OTLP export path ---------------------------------------------------------------------------


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:  # noqa: N802 - stdlib handler naming
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def collector() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


APP = textwrap.dedent("""
    import sys, time, openai, llmsight
    kwargs = dict(arg.split("=", 1) for arg in sys.argv[2:])
    started = time.monotonic()
    llmsight.instrument(**kwargs)
    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
    for _ in range(5):
        assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    print(f"calls done in {time.monotonic() - started:.3f}s", flush=True)
""")


def _run_app(base_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-c", APP, base_url, *args], capture_output=True, text=True,
                          timeout=60, env=environment, cwd=REPO)


def _decode(received: list[tuple[dict[str, str], bytes]]) -> tuple[dict[str, str], list[Any], dict[str, Any]]:
    spans, resource = [], {}
    for _, body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            resource = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                spans.extend(ss.spans)
    return received[0][0], spans, resource


def test_instrument_exports_otlp_http_protobuf(fake, collector):
    endpoint = f"http://127.0.0.1:{collector.server_port}"
    out = _run_app(fake.base_url, "service_name=shop", f"endpoint={endpoint}", "ingest_token=tok123",
                   env={"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test"})
    assert out.returncode == 0, out.stderr
    headers, spans, resource = _decode(collector.received)
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["authorization"] == "Bearer tok123"
    assert resource["service.name"] == "shop"
    assert resource["deployment.environment.name"] == "test"
    assert [s.name for s in spans] == ["chat m"] * 5
    attributes = {kv.key: kv.value for kv in spans[0].attributes}
    assert attributes["gen_ai.usage.input_tokens"].int_value == 11
    assert json.loads(attributes["gen_ai.input.messages"].string_value)[0]["role"] == "user"


def test_instrument_honours_otel_environment(fake, collector):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
           "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme", "OTEL_SERVICE_NAME": "from-env"}
    out = _run_app(fake.base_url, env=env)
    assert out.returncode == 0, out.stderr
    headers, spans, resource = _decode(collector.received)
    assert headers["x-tenant"] == "acme"
    assert resource["service.name"] == "from-env"
    assert len(spans) == 5


def test_collector_down_costs_the_app_nothing(fake):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    out = _run_app(fake.base_url, f"endpoint=http://127.0.0.1:{port}")
    assert out.returncode == 0, out.stderr
    assert "calls done" in out.stdout
    calls_took = float(out.stdout.split("calls done in ")[1].rstrip("s\n"))
    assert calls_took < 3  # export failures happen on the batch thread, not in the calls
    assert time.monotonic() - started < 30  # and do not hold the exit hostage for long


def test_drop_counting_exporter_counts_failures(caplog):
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Down(SpanExporter):
        def export(self, spans):
            raise ConnectionError("refused")

    counting = exporting.DropCountingExporter(Down())
    with caplog.at_level(logging.WARNING, logger="llmsight.instrumentation"):
        assert counting.export([object(), object()]) is SpanExportResult.FAILURE  # type: ignore[list-item]
        counting.export([object()])  # type: ignore[list-item]
    assert counting.dropped == 3
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 1  # rate-limited


def test_grpc_requested_but_missing_falls_back_to_http(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    monkeypatch.setattr(exporting, "_grpc_warned", False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    with caplog.at_level(logging.WARNING, logger="llmsight.instrumentation"):
        first = exporting.build_exporter("http://127.0.0.1:1", {}, None)
        exporting.build_exporter("http://127.0.0.1:1", {}, None)
    assert isinstance(first, OTLPSpanExporter)
    assert len([r for r in caplog.records if "grpc" in r.getMessage()]) == 1


def test_endpoint_and_header_resolution(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert exporting.resolve_http_endpoint(None) == "http://127.0.0.1:4318/v1/traces"
    assert exporting.resolve_http_endpoint("http://c:4318/") == "http://c:4318/v1/traces"
    assert exporting.resolve_http_endpoint("http://c/v1/traces") == "http://c/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")
    assert exporting.resolve_http_endpoint(None) == "http://env:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=1,Authorization=Basic%20x")
    assert exporting.resolve_headers({"B": "2"}, "t") == {"a": "1", "b": "2", "authorization": "Bearer t"}


def test_openai_wrappers_patch_every_supported_method(provider):
    llmsight.instrument(tracer_provider=provider)
    try:
        patched = {f"{owner.__module__}.{owner.__name__}.{attr}" for owner, attr, _ in openai_wrappers._ORIGINALS}
    finally:
        llmsight.uninstrument()
    assert len(patched) == len(openai_wrappers.TARGETS)


def test_full_queue_is_counted_not_logged_per_span(caplog, monkeypatch):
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    release = threading.Event()

    class Stuck(SpanExporter):  # a collector that hangs: the queue fills up behind it
        def export(self, spans):
            release.wait(5)
            return SpanExportResult.FAILURE

    counting = exporting.DropCountingExporter(Stuck())
    exporting.install_queue_full_filter(counting)
    processor = BatchSpanProcessor(counting, max_queue_size=4, schedule_delay_millis=60_000, max_export_batch_size=4)
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            tracer.start_span("s").end()
    assert not [r for r in caplog.records if "Queue full" in r.getMessage()]
    assert counting.dropped >= 40
    said = [r.getMessage() for r in caplog.records if r.name == "llmsight.instrumentation"]
    assert said and said[0].startswith("llmsight: the export queue was full"), said  # not "unreachable"
    release.set()
    processor._batch_processor._shutdown = True  # no final export of a stuck exporter
    sdk_logger = logging.getLogger("opentelemetry.sdk._shared_internal")
    sdk_logger.filters[:] = [f for f in sdk_logger.filters if not isinstance(f, exporting.QueueFullFilter)]


def test_grpc_exporter_used_when_installed(monkeypatch):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    exporter = exporting.build_exporter("http://127.0.0.1:4317", {"authorization": "Bearer t"}, "grpc")
    try:
        assert isinstance(exporter, GrpcExporter)
    finally:
        exporter.shutdown()
