"""Ingest throughput: OTLP/HTTP protobuf end to end vs. the same engine without the collector.

    .venv/bin/python bench/ingest.py [--spans 204800] [--senders 8] [--batch 512] [--transport http|grpc]
                                     [--content-scale 1] [--decoder sql|python]

Realistic LLM spans (1-2 KB of message content, ~15 attributes; --content-scale 5 gives ~10 KB
prompts) are built and serialized before timing. Sender processes post them as OTLP/HTTP protobuf
(or OTLP/gRPC) to a collector running in this process on a fresh embedded store; a request counts
when the collector acknowledged it (once it is fsync'd to the spool); the clock stops when the
last acknowledged span is in ClickHouse. In the same run, the same requests go straight into
second databases of the same engine and schema, materialized views included: through the SQL
decoder (the ceiling for the collector), and as rows decoded by Python before timing (the old
exporter's insert). Prints spans/s, their ratios, where a span's time goes (the collector's own
counters), the collector's peak memory and bytes on disk per span.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest_data import build_bodies  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from llmsight.collector.server import free_port  # noqa: E402

__all__ = ["build_bodies"]  # bench/views.py and others build the same spans


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


STAGES = [  # (label, telemetry counter of seconds)
    ("receive: parse + validate (decoder threads)", "llmsight_receive_decode_seconds_total"),
    ("spool: write + group fsync (spool thread)", "llmsight_spool_write_seconds_total"),
    ("export: Python decode to rows", "llmsight_python_decode_seconds_total"),
    ("export: ClickHouse insert (decode, views, parts)", "llmsight_insert_seconds_total"),
]


class MemoryWatch:
    """Peak resident memory of this process (the collector runs in it) above what it held before."""

    def __init__(self) -> None:
        self.baseline = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.baseline


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=204_800)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--transport", choices=("http", "grpc"), default="http")
    parser.add_argument("--content-scale", type=int, default=1, help="message content x N (5: ~10 KB prompts)")
    parser.add_argument(
        "--decoder", choices=("sql", "python"), default="sql", help="python: the collector's Python decoder only"
    )
    args = parser.parse_args()

    from llmsight.collector import server
    from llmsight.collector.exporters.batches import merge
    from llmsight.collector.exporters.clickhouse import DEDUPLICATE_VIEWS
    from llmsight.collector.exporters.otlp_insert import SqlTraceInsert
    from llmsight.collector.otlp_rows import span_rows
    from llmsight.settings import Settings
    from llmsight.store.client import open_client
    from llmsight.store.schema import init_schema
    from llmsight.store.url import parse_store_url

    n_requests = max(1, args.spans // args.batch)
    print(f"building {n_requests} requests of {args.batch} spans ...", flush=True)
    bodies = build_bodies(n_requests, args.batch, content_scale=args.content_scale)
    n_spans = n_requests * args.batch
    body_bytes = sum(map(len, bodies))
    print(f"  {n_spans:,} spans, {body_bytes / n_spans:,.0f} bytes/span on the wire; decoder: {args.decoder}")
    if args.decoder == "python":
        server.SqlTraceInsert = lambda *_: None  # type: ignore[assignment,misc]

    tmp = Path(tempfile.mkdtemp(prefix="llmsight-bench-"))
    store_path = tmp / "store"
    try:
        memory = MemoryWatch()
        collector = server.Collector(
            Settings(
                clickhouse_url=f"chdb://{store_path}", http_port=free_port(), grpc_port=free_port(), query_port=0
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
        cpu_started = time.process_time()
        for proc in procs:
            proc.start()
        outcome = [results.get() for _ in procs]
        acked_at = time.perf_counter() - started
        collector.wait_until_stored(timeout=600)
        elapsed = time.perf_counter() - started
        collector_cpu = time.process_time() - cpu_started
        peak_memory = memory.stop()
        for proc in procs:
            proc.join()
        stages = {counter: collector.telemetry.get(counter) for _, counter in STAGES}
        sql_spans = collector.telemetry.get("llmsight_sql_decoded_spans_total")
        fallbacks = collector.telemetry.get("llmsight_python_fallback_batches_total")
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

        # Ceilings: the same requests straight into a second database of the same engine, no collector:
        # rows decoded by Python before timing (the old exporter's insert), and the SQL decoder on the bodies.
        group = max(1, Settings().batch_max_spans // args.batch)
        raw = parse_store_url(f"chdb://{store_path}?database=raw")
        init_schema(open_client(raw, database=False), raw, 30)
        raw_client = open_client(raw)
        decoded = []
        for body in bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            decoded.append(span_rows(request))
        t0 = time.perf_counter()
        for i in range(0, len(decoded), group):
            rows = merge(decoded[i : i + group])
            raw_client.insert("otel_traces", rows.data, column_names=rows.columns, column_oriented=True)
        raw_rate = n_spans / (time.perf_counter() - t0)
        del decoded
        direct = parse_store_url(f"chdb://{store_path}?database=direct")
        init_schema(open_client(direct, database=False), direct, 30)
        direct_client = open_client(direct)
        sql = SqlTraceInsert(embedded=True, scratch_dir=tmp)
        pairs = frozenset({("openai", "gpt-4o-mini-2024-07-18")})
        t0 = time.perf_counter()
        for i in range(0, len(bodies), group):
            sql.insert(direct_client, bodies[i : i + group], f"direct-{i}", pairs, DEDUPLICATE_VIEWS)
        direct_rate = n_spans / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    label = f"end to end (OTLP/{args.transport.upper()} -> collector -> ClickHouse)"
    print(f"{label:<56} {e2e:>10,.0f} spans/s  ({elapsed:.1f} s)")
    print(f"{'SQL decoder alone, same requests, same engine':<56} {direct_rate:>10,.0f} spans/s")
    print(f"{'raw insert of Python-decoded rows, same engine':<56} {raw_rate:>10,.0f} spans/s")
    print(f"{'ratio end to end / SQL decoder alone':<56} {e2e / direct_rate:>10.2f}")
    print(f"{'ratio end to end / raw insert':<56} {e2e / raw_rate:>10.2f}")
    print(f"{'all acknowledged (spooled) after':<56} {acked_at:>10.1f} s")
    print(f"{'acknowledged / stored spans / llm_calls rows':<56} {acked:,} / {stored:,} / {calls:,}")
    print(f"{'spans stored by the SQL decoder / batches it sent back':<56} {sql_spans:,.0f} / {fallbacks:,.0f}")
    print(f"{'requests throttled (429, retried)':<56} {throttled:>10,}")
    print(f"{'bytes on disk per span (traces + llm_calls + lookup)':<56} {disk / max(stored, 1):>10,.0f}")
    print(f"{'collector peak memory above its start (RSS)':<56} {peak_memory / 2**20:>10,.0f} MiB")
    print(f"\nwhere a span's time goes (us per span, summed over threads; collector CPU {collector_cpu:.1f} s):")
    for label, counter in STAGES:
        print(f"  {label:<54} {stages[counter] / max(stored, 1) * 1e6:>8.1f}")
    print(f"  {'collector process CPU, all threads':<54} {collector_cpu / max(stored, 1) * 1e6:>8.1f}")
    print(
        f"targets: >= 50,000 spans/s end to end -> {'met' if e2e >= 50_000 else 'NOT met'}; "
        f">= 0.5 of the SQL decoder alone -> {'met' if e2e >= 0.5 * direct_rate else 'NOT met'}"
    )
    if acked != stored:
        print("ERROR: acknowledged spans were not all stored", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
