"""What one materialized view costs the engine per stored call: the safety pre-screen
(call_screens_mv, schema v10) by default, or another (--view call_response_ids_mv, schema v12).

    .venv/bin/python bench/prescreen.py [--spans 61440] [--batch 2048] [--view call_screens_mv]

The same realistic LLM spans as bench/ingest.py (1-2 KB of message content), decoded before timing,
are inserted straight into two databases of one embedded engine: one with the full schema, one
with that view dropped. Runs alternate between the two (three rounds each) so machine
noise falls on both; prints the rows/s of each, their ratio, and the pre-screen's cost per span.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import build_bodies  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from llmsight.collector.exporters.clickhouse import merge  # noqa: E402
from llmsight.collector.otlp_rows import span_rows  # noqa: E402
from llmsight.store.client import open_client  # noqa: E402
from llmsight.store.schema import init_schema  # noqa: E402
from llmsight.store.url import parse_store_url  # noqa: E402

ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=61_440)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--view", default="call_screens_mv", help="the view whose cost is measured")
    args = parser.parse_args()
    bodies = build_bodies(args.spans // args.batch, args.batch)
    batches = []
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        batches.append(merge([span_rows(request)]))
    n_spans = sum(len(b.data[0]) for b in batches)
    tmp = Path(tempfile.mkdtemp(prefix="llmsight-prescreen-"))
    try:
        clients = {}
        for name in ("with_view", "without"):
            store = parse_store_url(f"chdb://{tmp / 'store'}?database={name}")
            init_schema(open_client(store, database=False), store, 30)
            clients[name] = open_client(store)
        clients["without"].command(f"DROP VIEW {args.view}")
        elapsed = {name: 0.0 for name in clients}
        for _ in range(ROUNDS):
            for name, client in clients.items():
                client.command("TRUNCATE TABLE otel_traces")
                started = time.perf_counter()
                for rows in batches:
                    client.insert("otel_traces", rows.data, column_names=rows.columns, column_oriented=True)
                elapsed[name] += time.perf_counter() - started
        flagged = int(clients["with_view"].command("SELECT count() FROM call_screens"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rate = {name: ROUNDS * n_spans / seconds for name, seconds in elapsed.items()}
    per_span_us = (elapsed["with_view"] - elapsed["without"]) / (ROUNDS * n_spans) * 1e6
    print(f"{'spans per round / rounds':<44} {n_spans:>10,} / {ROUNDS}")
    print(f"{'insert with ' + args.view:<44} {rate['with_view']:>10,.0f} spans/s")
    print(f"{'insert without it (baseline)':<44} {rate['without']:>10,.0f} spans/s")
    print(f"{'ratio with / without':<44} {rate['with_view'] / rate['without']:>10.3f}")
    print(f"{args.view + ' cost per span':<44} {per_span_us:>10.1f} us")
    print(f"{'calls flagged (synthetic content: 0 expected)':<44} {flagged:>10,}")


if __name__ == "__main__":
    main()
