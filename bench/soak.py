"""Soak: concurrent OTLP senders for a fixed time, faster than the collector can store.

    .venv/bin/python bench/soak.py [--seconds 60] [--senders 6] [--spool-mb 128]

Each sender posts pre-built 512-span OTLP/HTTP protobuf requests as fast as answers come, and
retries after Retry-After on 429/503, as the OpenTelemetry SDKs do. The collector runs in this
process on a fresh embedded store with a small spool cap, so the spool fills and backpressure
shows. Prints sent, acknowledged, answered with retry, stored and peak memory of the collector
process; the run fails unless acknowledged == stored.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import build_bodies  # noqa: E402

from llmsight.collector.server import free_port  # noqa: E402

BATCH = 512


def _sender(url: str, bodies: list[bytes], seconds: float, results: mp.Queue) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    sent = acked = retried = 0
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        body = bodies[i % len(bodies)]
        i += 1
        while True:
            sent += 1
            try:
                conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                response = conn.getresponse()
                response.read()
            except (ConnectionError, http.client.HTTPException):
                # The server may close a connection after a refusal; reconnect and retry, like an SDK.
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
                retried += 1
                continue
            if response.status == 200:
                acked += 1
                break
            retried += 1
            time.sleep(float(response.getheader("Retry-After", "1")))
            if time.monotonic() >= deadline:
                break
    results.put((sent, acked, retried))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--senders", type=int, default=6)
    parser.add_argument("--spool-mb", type=int, default=128)
    args = parser.parse_args()

    from llmsight.collector.server import Collector
    from llmsight.settings import Settings
    from llmsight.store.client import open_client

    # Distinct spans per request: identical ones would be (rightly) deduplicated by id.
    n_bodies = 120
    print(f"building {n_bodies} distinct requests of {BATCH} spans ...", flush=True)
    bodies = build_bodies(n_bodies, BATCH, seed=11)
    tmp = Path(tempfile.mkdtemp(prefix="llmsight-soak-"))
    try:
        settings = Settings(
            clickhouse_url=f"chdb://{tmp}/store",
            http_port=free_port(),
            grpc_port=free_port(),
            query_port=0,
            spool_max_bytes=args.spool_mb * 1024 * 1024,
        )
        collector = Collector(settings).start_in_thread()
        peak = [_rss_mb()]
        spool_peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.5):
                peak.append(_rss_mb())
                spool_peak.append(collector.spool.size())

        threading.Thread(target=sample, daemon=True).start()
        ctx = mp.get_context("spawn")
        results: mp.Queue = ctx.Queue()
        shares = [bodies[i :: args.senders] for i in range(args.senders)]
        procs = [
            ctx.Process(target=_sender, args=(collector.endpoints.http, share, args.seconds, results))
            for share in shares
        ]
        started = time.perf_counter()
        for proc in procs:
            proc.start()
        outcome = [results.get() for _ in procs]
        for proc in procs:
            proc.join()
        sending = time.perf_counter() - started
        collector.wait_until_stored(timeout=900)
        drained = time.perf_counter() - started
        done.set()
        stored_metric = collector.telemetry.get("llmsight_stored_spans_total")
        inserts = collector.telemetry.get("llmsight_inserts_total")
        insert_s = collector.telemetry.get("llmsight_insert_seconds_total")
        collector.stop_thread()
        client = open_client(f"chdb://{tmp}/store")
        stored = int(client.command("SELECT count() FROM otel_traces"))
        unique = int(client.command("SELECT uniqExact(SpanId) FROM otel_traces"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    sent = sum(s for s, _, _ in outcome)
    acked = sum(a for _, a, _ in outcome)
    retried = sum(r for _, _, r in outcome)
    # Requests repeat the same 120 bodies, so span ids repeat: stored rows count every acknowledged copy.
    print()
    print(f"{'senders x seconds':<44} {args.senders} x {args.seconds:.0f} s")
    print(f"{'requests sent (incl. retries)':<44} {sent:>12,}")
    print(f"{'requests acknowledged (200)':<44} {acked:>12,}  = {acked * BATCH:,} spans")
    print(f"{'answered 429/503 with Retry-After':<44} {retried:>12,}")
    print(f"{'spans stored (otel_traces rows)':<44} {stored:>12,}  ({unique:,} distinct span ids)")
    print(f"{'acknowledged rate while sending':<44} {acked * BATCH / sending:>12,.0f} spans/s")
    print(f"{'stored rate until drained':<44} {stored / drained:>12,.0f} spans/s ({drained:.0f} s)")
    print(f"{'ClickHouse inserts, time in them':<44} {inserts:>12,.0f}  {insert_s:.1f} s")
    print(f"{'peak spool':<44} {max(spool_peak) / 2**20:>12,.0f} MiB (cap {args.spool_mb} MiB)")
    print(f"{'collector process RSS: start / peak':<44} {peak[0]:>6,.0f} / {max(peak):,.0f} MiB")
    quarters = [peak[min(len(peak) - 1, int(len(peak) * q))] for q in (0.25, 0.5, 0.75)] + [peak[-1]]
    print(f"{'RSS at 25% / 50% / 75% / end of the run':<44} " + " / ".join(f"{r:,.0f}" for r in quarters) + " MiB")
    ok = acked * BATCH == stored == stored_metric
    print(f"acknowledged == stored: {'yes' if ok else 'NO'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
