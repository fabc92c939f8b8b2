"""Acknowledged data survives SIGKILL, and SIGTERM inserts what is queued before exiting.

Runs the real ``llmsight serve`` in a subprocess on its own embedded store (this test process
already holds another chDB directory), and reads it back through the query endpoint.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx2 as httpx

from llmsight.collector.checkpoint import read_slots
from tests.collector import serve_process
from tests.collector.otlp_bodies import chat_span_request
from tests.conftest import free_port

PROTO = {"Content-Type": "application/x-protobuf"}


QUERY_TOKENS: dict[int, str] = {}  # query port -> the token its serve wrote to serve.json


def start_serve(data: Path, ports: dict[str, int], env: dict[str, str] | None = None) -> subprocess.Popen:
    """serve on fixed ``ports``, so a restart answers where the senders already send."""
    # ClickHouse decodes even these small batches, so a crash mid-insert is replayed through the SQL decoder
    serve = serve_process.start_serve(data, {"LLMSIGHT_SQL_DECODER_MIN_SPANS": "1", **(env or {})}, ports=ports)
    QUERY_TOKENS[ports["query"]] = serve.token
    return serve.proc


def query(ports: dict[str, int], sql: str) -> str:
    headers = {"Authorization": f"Bearer {QUERY_TOKENS[ports['query']]}"}
    response = httpx.post(f"http://127.0.0.1:{ports['query']}/?database=otel", content=sql, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.text.strip()


def metric(ports: dict[str, int], name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{ports['http']}/metrics").text
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def wait_spool_empty(ports: dict[str, int]) -> None:
    deadline = time.monotonic() + 60
    while metric(ports, "llmsight_spool_bytes") > 0:
        assert time.monotonic() < deadline, "spool never drained"
        time.sleep(0.2)


def test_sigkill_loses_nothing_acknowledged_and_sigterm_flushes(tmp_path):
    ports = {"http": free_port(), "grpc": free_port(), "query": free_port()}
    proc = start_serve(tmp_path, ports)
    acked: list[int] = []
    sent = 0
    stop = threading.Event()

    def sender() -> None:
        nonlocal sent
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                body = chat_span_request(50, service="kill").SerializeToString()
                sent += 50
                try:
                    if (
                        client.post(
                            f"http://127.0.0.1:{ports['http']}/v1/traces", content=body, headers=PROTO
                        ).status_code
                        == 200
                    ):
                        acked.append(50)
                except httpx.TransportError:
                    return

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    while sum(acked) < 3000:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for thread in threads:
        thread.join()
    acknowledged = sum(acked)

    proc = start_serve(tmp_path, ports)  # replays the spool
    wait_spool_empty(ports)
    stored = int(query(ports, "SELECT count() FROM otel_traces WHERE ServiceName = 'kill'"))
    distinct = int(query(ports, "SELECT uniqExact(SpanId) FROM otel_traces WHERE ServiceName = 'kill'"))
    assert acknowledged <= stored <= sent
    assert distinct == stored  # nothing stored twice
    assert int(query(ports, "SELECT count() FROM llm_calls WHERE ServiceName = 'kill'")) == stored

    # SIGTERM: what was acknowledged is inserted before the process exits.
    for _ in range(5):
        body = chat_span_request(100, service="term").SerializeToString()
        assert httpx.post(f"http://127.0.0.1:{ports['http']}/v1/traces", content=body, headers=PROTO).status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    _, checkpoint = read_slots(tmp_path / "spool" / "checkpoint")
    segment, offset = checkpoint.position
    last = max((tmp_path / "spool").glob("*.wal"))
    assert checkpoint.intent is None
    assert (segment, offset) == (int(last.stem), last.stat().st_size)  # everything spooled was inserted
    proc = start_serve(tmp_path, ports)
    try:
        assert int(query(ports, "SELECT count() FROM otel_traces WHERE ServiceName = 'term'")) == 500
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_replayed_batch_is_stored_once_in_the_tables_and_their_views(collector, store_client):
    """After a crash the exporter inserts its last batch again with the same token; if it had landed,
    otel_traces drops it, and so must the views (llm_calls counted it twice before schema v4)."""
    from llmsight.collector.exporters.clickhouse import DEDUPLICATE_VIEWS
    from llmsight.collector.otlp_rows import span_rows

    rows = span_rows(chat_span_request(7, service="replayed"))
    for _ in range(3):
        store_client.insert(
            "otel_traces",
            rows.data,
            column_names=rows.columns,
            column_oriented=True,
            settings={"insert_deduplication_token": "spool-instance:1.0-1.900:otel_traces", **DEDUPLICATE_VIEWS},
        )
    where = "ServiceName = 'replayed'"
    assert int(store_client.command(f"SELECT count() FROM otel_traces WHERE {where}")) == 7
    assert int(store_client.command(f"SELECT count() FROM llm_calls WHERE {where}")) == 7
