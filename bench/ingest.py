"""Ingest throughput: OTLP/HTTP protobuf end to end vs. raw inserts into the same engine.

    .venv/bin/python bench/ingest.py [--spans 204800] [--senders 8] [--batch 512] [--transport http|grpc]

Realistic LLM spans (1-2 KB of message content, ~15 attributes) are built and serialized
before timing. Sender processes post them as OTLP/HTTP protobuf (or OTLP/gRPC) to a collector running in
this process on a fresh embedded store; a request counts when the collector acknowledged it
(which happens once its rows are fsync'd to the spool); the clock stops when the last
acknowledged span is in ClickHouse. In the same run, the same rows are decoded
once and inserted straight into a second database of the same engine with the same schema,
materialized views included: that is the ceiling. Prints spans/s for both, their ratio, and
bytes on disk per span.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

WORDS = [
    "refund",
    "policy",
    "order",
    "shipping",
    "warranty",
    "invoice",
    "account",
    "password",
    "reset",
    "delivery",
    "return",
    "label",
    "customer",
    "support",
    "agent",
    "product",
    "price",
    "discount",
    "subscription",
    "cancel",
    "upgrade",
    "plan",
    "billing",
    "address",
]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _text(rng: random.Random, n_bytes: int) -> str:
    out: list[str] = []
    size = 0
    while size < n_bytes:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def build_bodies(n_requests: int, batch: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    now = time.time_ns()
    for _ in range(n_requests):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", rng.choice(["rag-api", "support-bot", "search"])),
                _kv("deployment.environment.name", "prod"),
                _kv("telemetry.sdk.language", "python"),
                _kv("telemetry.sdk.version", "1.45.2"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "llmsight"
        ss.scope.version = "0.1.0"
        for _ in range(batch):
            span = ss.spans.add()
            span.trace_id = rng.randbytes(16)
            span.span_id = rng.randbytes(8)
            span.parent_span_id = rng.randbytes(8)
            span.name = "chat gpt-4o-mini"
            span.kind = 3
            duration = rng.randint(200, 4000) * 1_000_000
            span.start_time_unix_nano = now - duration - rng.randint(0, 3_600_000_000_000)
            span.end_time_unix_nano = span.start_time_unix_nano + duration
            question = _text(rng, rng.randint(150, 400))
            context = [_text(rng, rng.randint(200, 400)) for _ in range(2)]
            answer = _text(rng, rng.randint(300, 600))
            span.attributes.extend(
                [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                    _kv("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(64):x}"),
                    _kv("gen_ai.request.temperature", 0.2),
                    _kv("gen_ai.request.max_tokens", 512),
                    _kv("gen_ai.usage.input_tokens", rng.randint(100, 2000)),
                    _kv("gen_ai.usage.output_tokens", rng.randint(20, 400)),
                    _kv("server.address", "api.openai.com"),
                    _kv("server.port", 443),
                    _kv("gen_ai.response.finish_reasons", '["stop"]'),
                    _kv(
                        "gen_ai.input.messages",
                        json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
                    ),
                    _kv(
                        "gen_ai.output.messages",
                        json.dumps(
                            [
                                {
                                    "role": "assistant",
                                    "parts": [{"type": "text", "content": answer}],
                                    "finish_reason": "stop",
                                }
                            ]
                        ),
                    ),
                    _kv("llmsight.context.documents", json.dumps(context)),
                ]
            )
        bodies.append(request.SerializeToString())
    return bodies


def _sender(url: str, bodies: list[bytes], results: mp.Queue) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    acked = throttled = 0
    for body in bodies:
        while True:
            conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                acked += 1
                break
            throttled += 1
            time.sleep(float(response.getheader("Retry-After", "1")) / 10)
    results.put((acked, throttled))


def _grpc_sender(target: str, bodies: list[bytes], results: mp.Queue) -> None:
    """Like ``_sender`` over OTLP/gRPC: one channel, one unary Export per body, RESOURCE_EXHAUSTED retried."""
    import grpc

    acked = throttled = 0
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1)]) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        for body in bodies:
            while True:
                try:
                    export(body, timeout=120)
                    acked += 1
                    break
                except grpc.RpcError as exc:
                    if exc.code() not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                        raise
                    throttled += 1
                    time.sleep(0.1)
    results.put((acked, throttled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=204_800)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    args = parser.parse_args()

    from llmsight.collector.otlp import span_rows
    from llmsight.collector.server import Collector
    from llmsight.settings import Settings
    from llmsight.store.client import open_client
    from llmsight.store.schema import init_schema
    from llmsight.store.url import parse_store_url

    n_requests = max(1, args.spans // args.batch)
    print(f"building {n_requests} requests of {args.batch} spans ...", flush=True)
    bodies = build_bodies(n_requests, args.batch)
    n_spans = n_requests * args.batch
    body_bytes = sum(map(len, bodies))
    print(f"  {n_spans:,} spans, {body_bytes / n_spans:,.0f} bytes/span on the wire")

    tmp = Path(tempfile.mkdtemp(prefix="llmsight-bench-"))
    store_path = tmp / "store"
    try:
        collector = Collector(
            Settings(
                clickhouse_url=f"chdb://{store_path}", http_port=0 or _free_port(), grpc_port=_free_port(), query_port=0
            )
        ).start_in_thread()
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()
        shares = [bodies[i :: args.senders] for i in range(args.senders)]
        sender, target = (
            (_grpc_sender, collector.endpoints.grpc)
            if args.transport == "grpc"
            else (_sender, collector.endpoints.http)
        )
        procs = [ctx.Process(target=sender, args=(target, share, results)) for share in shares]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        outcome = [results.get() for _ in procs]
        acked_at = time.perf_counter() - started
        collector.wait_until_stored(timeout=600)
        elapsed = time.perf_counter() - started
        for proc in procs:
            proc.join()
        collector.stop_thread()
        acked = sum(a for a, _ in outcome) * args.batch
        throttled = sum(t for _, t in outcome)
        e2e = acked / elapsed

        client = open_client(f"chdb://{store_path}")
        stored = int(client.command("SELECT count() FROM otel_traces"))
        calls = int(client.command("SELECT count() FROM llm_calls"))
        client.command("OPTIMIZE TABLE otel_traces FINAL")
        disk = int(
            client.command(
                "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'otel' AND active "
                "AND table IN ('otel_traces', 'llm_calls', 'otel_traces_trace_id_ts')"
            )
        )

        # The ceiling: the same rows, decoded before timing, inserted straight into the same engine.
        raw = parse_store_url(f"chdb://{store_path}?database=raw")
        init_schema(open_client(raw, database=False), raw, 30)
        raw_client = open_client(raw)
        decoded = []
        for body in bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            decoded.append(span_rows(request))
        group = max(1, Settings().batch_max_spans // args.batch)
        started = time.perf_counter()
        for i in range(0, len(decoded), group):
            from llmsight.collector.exporters.clickhouse import merge

            rows = merge(decoded[i : i + group])
            raw_client.insert("otel_traces", rows.data, column_names=rows.columns, column_oriented=True)
        raw_elapsed = time.perf_counter() - started
        raw_rate = n_spans / raw_elapsed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    label = f"end to end (OTLP/{args.transport.upper()} -> collector -> ClickHouse)"
    print(f"{label:<52} {e2e:>10,.0f} spans/s  ({elapsed:.1f} s)")
    print(f"{'raw insert, same rows, same engine (ceiling)':<52} {raw_rate:>10,.0f} spans/s  ({raw_elapsed:.1f} s)")
    print(f"{'ratio end to end / raw':<52} {e2e / raw_rate:>10.2f}")
    print(f"{'all acknowledged (spooled) after':<52} {acked_at:>10.1f} s")
    print(f"{'acknowledged / stored spans / llm_calls rows':<52} {acked:,} / {stored:,} / {calls:,}")
    print(f"{'requests throttled (429, retried)':<52} {throttled:>10,}")
    print(f"{'bytes on disk per span (traces + llm_calls + lookup)':<52} {disk / max(stored, 1):>10,.0f}")
    print(
        f"targets: >= 50,000 spans/s end to end -> {'met' if e2e >= 50_000 else 'NOT met'}; "
        f">= 0.5 of raw -> {'met' if e2e >= 0.5 * raw_rate else 'NOT met'}"
    )
    if acked != stored:
        print("ERROR: acknowledged spans were not all stored", file=sys.stderr)
        sys.exit(1)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
