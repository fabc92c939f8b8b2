"""Receiver limits: what one hostile body, a flood of large bodies and slow-loris cost a real ``llmsight serve``.

    .venv/bin/python bench/receiver_limits.py [--tree PATH] [--only stall,rss_http,...]

Each scenario runs against its own ``llmsight serve`` subprocess (fresh embedded store), started
from ``--tree`` (default: this checkout; pass an unpacked older commit to compare). Prints:

- stall: time to answer a 32 MiB body of empty ResourceSpans, and a one-span request sent 0.5 s
  after it (HTTP and gRPC);
- rss_http / rss_chunked / rss_grpc: VmRSS before, VmHWM (peak) and VmRSS after (and once the spool
  is stored), 24 concurrent 48 MiB
  HTTP bodies (with Content-Length, then chunked) and 16 concurrent 48 MiB gRPC messages, with
  the answers' status counts; rss_one: one such HTTP body and one gRPC message alone (what the one
  the floods let in costs by itself);
- loris: of 300 connections that sent half a request header, how many are still open 15 s later;
- retention: spans 40 days old (retention 30 days): rejected in partial_success, counted as
  stored, and rows stored.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import httpx2 as httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmsight.collector.server import free_port  # noqa: E402
from tests.collector.otlp_bodies import chat_span_request  # noqa: E402

PROTO = {"Content-Type": "application/x-protobuf"}
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MIB = 1 << 20


class Serve:
    """A ``llmsight serve`` subprocess on free ports and a fresh store."""

    def __init__(self, tree: Path, env: dict[str, str] | None = None) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="llmsight-limits-"))
        self.http, self.grpc, self.query = free_port(), free_port(), free_port()
        full_env = {**os.environ, "LLMSIGHT_CLICKHOUSE_URL": f"chdb://{self.data}/clickhouse", **(env or {})}
        full_env["PYTHONPATH"] = str(tree)
        args = ["serve", "--http-port", str(self.http), "--grpc-port", str(self.grpc), "--query-port", str(self.query)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmsight.cli.main", *args],
            cwd=tree,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise TimeoutError("serve did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    def status(self, key: str) -> int:
        """VmRSS / VmHWM of the serve process, in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
        raise KeyError(key)

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))

    def sql(self, sql: str) -> str:
        response = httpx.post(f"http://127.0.0.1:{self.query}/?database=otel", content=sql, timeout=60)
        return response.text.strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=90)


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.monotonic()
    result = fn()
    return time.monotonic() - start, result


def stall(tree: Path) -> None:
    hostile = b"\x0a\x00" * (16 << 20)
    one = chat_span_request(1, service="one").SerializeToString()
    serve = Serve(tree)
    try:
        for transport in ("http", "grpc"):
            channel = grpc.insecure_channel(f"127.0.0.1:{serve.grpc}", options=[("grpc.max_send_message_length", -1)])
            export = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)

            def send(body: bytes, transport: str = transport, export: Any = export) -> str:
                if transport == "http":
                    response = httpx.post(f"{serve.url}/v1/traces", content=body, headers=PROTO, timeout=300)
                    return str(response.status_code)
                try:
                    export(body, timeout=300)
                    return "OK"
                except grpc.RpcError as exc:
                    return exc.code().name

            results: dict[str, tuple[float, Any]] = {}

            def hostile_sender(results: dict[str, tuple[float, Any]] = results, send: Any = send) -> None:
                results["hostile"] = _timed(lambda: send(hostile))

            worker = threading.Thread(target=hostile_sender)
            worker.start()
            time.sleep(0.5)
            results["one"] = _timed(lambda: send(one))
            worker.join()
            channel.close()
            print(
                f"stall {transport}: 32 MiB hostile body answered {results['hostile'][1]} in "
                f"{results['hostile'][0]:.1f} s; one-span request sent 0.5 s later answered "
                f"{results['one'][1]} in {results['one'][0]:.2f} s"
            )
    finally:
        serve.close()


def _big_body(size: int) -> bytes:
    n = size // (33 * 1024)
    return chat_span_request(n, service="big", content_bytes=32 * 1024).SerializeToString()


def _flood(serve: Serve, label: str, senders: int, send: Any) -> None:
    before = serve.status("VmRSS")
    statuses: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def one() -> None:
        status = send()
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=one) for _ in range(senders)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    peak, after = serve.status("VmHWM"), serve.status("VmRSS")
    deadline = time.monotonic() + 120
    while serve.metric("llmsight_spool_bytes") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the exporter's last insert
    print(
        f"{label}: RSS {before} MiB before, peak {peak} MiB, {after} MiB after, {serve.status('VmRSS')} MiB "
        f"once stored; answers {dict(statuses)} in {elapsed:.1f} s"
    )


def rss_http(tree: Path, chunked: bool = False, senders: int = 24) -> None:
    body = _big_body(48 * MIB)
    serve = Serve(tree)
    try:

        def send() -> str:
            content: Any = body
            if chunked:
                content = (body[i : i + MIB] for i in range(0, len(body), MIB))
            try:
                response = httpx.post(f"{serve.url}/v1/traces", content=content, headers=PROTO, timeout=600)
                return str(response.status_code)
            except httpx.TransportError as exc:
                return type(exc).__name__

        label = f"rss_chunked: {senders} x 48 MiB chunked HTTP" if chunked else f"rss_http: {senders} x 48 MiB HTTP"
        _flood(serve, label, senders, send)
    finally:
        serve.close()


def rss_grpc(tree: Path, senders: int = 16) -> None:
    body = _big_body(48 * MIB)
    serve = Serve(tree)
    try:
        options = [("grpc.max_send_message_length", -1)]

        def send() -> str:
            with grpc.insecure_channel(f"127.0.0.1:{serve.grpc}", options=options) as channel:
                export = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
                try:
                    export(body, timeout=600)
                    return "OK"
                except grpc.RpcError as exc:  # the details tell the gRPC limiter's refusals from admission's
                    return f"{exc.code().name} ({exc.details()})"

        _flood(serve, f"rss_grpc: {senders} x 48 MiB gRPC", senders, send)
    finally:
        serve.close()


def loris(tree: Path) -> None:
    serve = Serve(tree)
    try:
        sockets = []
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", serve.http))
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: appli")
            sockets.append(sock)
        time.sleep(15)
        ok = httpx.post(
            f"{serve.url}/v1/traces", content=chat_span_request(1).SerializeToString(), headers=PROTO, timeout=30
        )
        still_open = 0
        for sock in sockets:
            sock.setblocking(False)
            try:
                still_open += sock.recv(1) != b""
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
            sock.close()
        print(f"loris: {still_open} of 300 half-header connections still open after 15 s; a normal request got "
              f"{ok.status_code}")  # fmt: skip
    finally:
        serve.close()


def retention(tree: Path) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    serve = Serve(tree, {"LLMSIGHT_RETENTION_DAYS": "30"})
    try:
        request = chat_span_request(100, service="old")
        old = time.time_ns() - 40 * 86400 * 10**9
        for span in request.resource_spans[0].scope_spans[0].spans:
            span.start_time_unix_nano, span.end_time_unix_nano = old, old + 10**6
        response = httpx.post(f"{serve.url}/v1/traces", content=request.SerializeToString(), headers=PROTO)
        rejected = ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans
        deadline = time.monotonic() + 30
        while serve.metric("llmsight_spool_bytes") > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        stored = serve.sql("SELECT count() FROM otel_traces WHERE ServiceName = 'old'")
        print(
            f"retention: 100 spans 40 days old -> {response.status_code}, rejected_spans={rejected}, "
            f"llmsight_stored_spans_total={serve.metric('llmsight_stored_spans_total'):.0f}, rows stored={stored}"
        )
    finally:
        serve.close()


SCENARIOS = {
    "stall": stall,
    "rss_http": rss_http,
    "rss_chunked": lambda tree: rss_http(tree, chunked=True),
    "rss_grpc": rss_grpc,
    # the floor under the floods: what the one message they let in costs by itself
    "rss_one": lambda tree: (rss_http(tree, senders=1), rss_grpc(tree, senders=1)),
    "loris": loris,
    "retention": retention,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    for name in args.only.split(","):
        SCENARIOS[name](args.tree.resolve())


if __name__ == "__main__":
    main()
