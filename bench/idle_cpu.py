"""CPU a `llmsight serve` uses under a trickle of spans, against the same serve with no traffic.

    .venv/bin/python bench/idle_cpu.py [--seconds 30] [--rate 10]

A small app sends a few spans a second; the collector should then cost next to nothing. Each
ClickHouse insert has a fixed cost (analysing the statement and its materialized views), so how
often the exporter inserts decides what a trickle costs. Runs the real serve in a subprocess on a
fresh embedded store, measures its CPU time (user + system) while idle and then while one sender
posts ``--rate`` one-span requests a second, and prints both as % of one core, with the inserts
made and the CPU per insert. Fails unless every acknowledged span was stored.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2 as httpx  # noqa: E402

from tests.collector.otlp_bodies import chat_span_request  # noqa: E402
from tests.collector.serve_process import start_serve  # noqa: E402


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each phase (default 30)")
    ap.add_argument("--rate", type=float, default=10.0, help="one-span requests a second while trickling (default 10)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="llmsight-idle-") as tmp:
        serve = start_serve(Path(tmp))
        try:
            with httpx.Client(timeout=30) as http:
                time.sleep(5)  # let start-up work (schema, first merges) settle before measuring

                cpu0 = serve.cpu_seconds()
                time.sleep(args.seconds)
                idle = (serve.cpu_seconds() - cpu0) / args.seconds

                metrics0 = http.get(f"{serve.http}/metrics").text
                cpu0 = serve.cpu_seconds()
                started = time.monotonic()
                sent = 0
                while time.monotonic() - started < args.seconds:
                    body = chat_span_request(1, service="trickle").SerializeToString()
                    answer = http.post(
                        f"{serve.http}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
                    )
                    answer.raise_for_status()
                    sent += 1
                    next_at = started + sent / args.rate
                    time.sleep(max(0.0, next_at - time.monotonic()))
                elapsed = time.monotonic() - started
                trickle = (serve.cpu_seconds() - cpu0) / elapsed
                metrics1 = http.get(f"{serve.http}/metrics").text

                deadline = time.monotonic() + 60
                stored = 0.0
                while time.monotonic() < deadline:
                    stored = _metric(http.get(f"{serve.http}/metrics").text, "llmsight_stored_spans_total")
                    if stored >= sent:
                        break
                    time.sleep(0.2)
        finally:
            serve.stop()

    inserts = _metric(metrics1, "llmsight_inserts_total") - _metric(metrics0, "llmsight_inserts_total")
    insert_s = _metric(metrics1, "llmsight_insert_seconds_total") - _metric(metrics0, "llmsight_insert_seconds_total")
    print(f"idle:    {idle:.1%} of a core")
    print(
        f"trickle: {trickle:.1%} of a core at {sent / elapsed:.1f} spans/s "
        f"({trickle / max(idle, 1e-9):.1f}x idle); {inserts:.0f} inserts "
        f"({inserts / elapsed:.2f}/s, {insert_s / max(inserts, 1) * 1000:.0f} ms each)"
    )
    if stored < sent:
        print(f"ERROR: {sent} spans acknowledged, {stored:.0f} stored", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
