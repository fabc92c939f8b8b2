"""An instrumented app with a collector that is down, slow, or failing: calls succeed, memory stays bounded.

    .venv/bin/python bench/app_resilience.py [--calls 100000] [--scenario down|slow|errors|all]

Each scenario runs in its own process: an app calls ``chat.completions.create`` (content capture
on, against an in-process transport) ``--calls`` times with ``llmsight.instrument()`` exporting to
a collector that refuses connections (down), accepts and never answers (slow), or answers 500
(errors). Prints failed app calls (must be 0), median call time against the same process before
instrumenting, RSS at 10% and at the end of the run (growth must be small: the span queue is
bounded), and how many spans the SDK dropped.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _collector(scenario: str) -> str:
    """Start a misbehaving collector in this process; return its OTLP base URL."""
    if scenario == "down":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return f"http://127.0.0.1:{sock.getsockname()[1]}"

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if scenario == "slow":
                time.sleep(3600)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def run(scenario: str, calls: int) -> dict:
    from instrumentation_overhead import MESSAGES, make_client

    import llmsight

    client = make_client()
    baseline = []
    for _ in range(2000):
        t = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        baseline.append(time.perf_counter() - t)
    llmsight.instrument(service_name="resilience", endpoint=_collector(scenario))
    failed = 0
    times = []
    rss_early = 0.0
    started = time.perf_counter()
    for i in range(calls):
        t = time.perf_counter()
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        except Exception:
            failed += 1
        times.append(time.perf_counter() - t)
        if i == calls // 10:
            gc.collect()
            rss_early = _rss_mb()
    elapsed = time.perf_counter() - started
    gc.collect()
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    dropped = getattr(getattr(provider, "_llmsight_drops", None), "value", None)
    return {
        "scenario": scenario,
        "calls": calls,
        "failed": failed,
        "baseline_us": statistics.median(baseline) * 1e6,
        "median_us": statistics.median(times) * 1e6,
        "p99_us": sorted(times)[int(len(times) * 0.99)] * 1e6,
        "rss_early_mb": rss_early,
        "rss_end_mb": _rss_mb(),
        "seconds": elapsed,
        "dropped": dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--scenario", default="all", choices=["down", "slow", "errors", "all"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.scenario, args.calls)))
        return
    scenarios = ["down", "slow", "errors"] if args.scenario == "all" else [args.scenario]
    print(
        f"{'collector':<9} {'calls':>8} {'failed':>6} {'base us':>8} {'median us':>9} {'p99 us':>8} "
        f"{'RSS@10% MiB':>11} {'RSS end MiB':>11}"
    )
    ok = True
    for scenario in scenarios:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--scenario", scenario, "--calls", str(args.calls)],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if out.returncode:
            print(out.stderr[-2000:])
            sys.exit(1)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{scenario:<9} {r['calls']:>8,} {r['failed']:>6} {r['baseline_us']:>8.0f} {r['median_us']:>9.0f} "
            f"{r['p99_us']:>8.0f} {r['rss_early_mb']:>11.0f} {r['rss_end_mb']:>11.0f}"
        )
        ok &= r["failed"] == 0 and r["rss_end_mb"] - r["rss_early_mb"] < 50
    print("every call succeeded and memory stayed bounded (< 50 MiB growth after 10%):", "yes" if ok else "NO")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
