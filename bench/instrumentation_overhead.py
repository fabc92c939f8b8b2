"""Per-call overhead of tracing ``chat.completions.create`` (content capture on), llmsight vs its peers.

Each variant runs against an in-process ``httpx2.MockTransport`` so that network time cannot hide
the cost, with spans going through a ``BatchSpanProcessor`` into a no-op exporter (what a user's
process pays). Baseline and instrumented calls alternate in rounds inside one process; the overhead
is the difference of the medians. Peers conflict with each other's dependencies, so each runs in
its own virtualenv under /tmp, created on first use with pip (skipped with a reason if it fails).

Reproduce:  .venv/bin/python bench/instrumentation_overhead.py [--calls 400 --rounds 5] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PEERS: dict[str, dict[str, Any]] = {
    "genai-openai (official)": {
        "packages": ["opentelemetry-instrumentation-genai-openai"],
        "dist": "opentelemetry-instrumentation-genai-openai",
        "env": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
                "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"},
    },
    "openai-v2 (official, previous)": {
        "packages": ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai==1.1b0"],
        "dist": "opentelemetry-instrumentation-openai-v2",
        "env": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
                "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"},
    },
    "OpenLLMetry": {
        "packages": ["opentelemetry-instrumentation-openai"],
        "dist": "opentelemetry-instrumentation-openai",
        "env": {"TRACELOOP_TRACE_CONTENT": "true"},
    },
}
VENV_ROOT = Path("/tmp/llmsight-bench-venvs")

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant for a bicycle shop. Answer in two sentences."},
    {"role": "user", "content": "Which tyre pressure should I use for a 28 mm road tyre? I weigh 75 kg."},
    {"role": "assistant", "content": "Around 5.5 bar at the front and 6 bar at the rear is a good start."},
    {"role": "user", "content": "And for wet roads? Please also tell me whether tubeless changes this."},
]
RESPONSE = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
    "system_fingerprint": "fp_bench", "service_tier": "default",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "message": {
        "role": "assistant", "refusal": None,
        "content": "Drop about 0.3 bar on wet roads for more grip. Tubeless lets you go a little lower still."}}],
    "usage": {"prompt_tokens": 92, "completion_tokens": 24, "total_tokens": 116,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
}


def make_client() -> Any:
    import httpx2
    import openai

    body = json.dumps(RESPONSE).encode()

    def handle(request: Any) -> Any:
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    return openai.OpenAI(api_key="sk-bench", base_url="http://bench.invalid/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handle)))


def make_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class NullExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    return provider


def timed_calls(client: Any, n: int) -> list[float]:
    create = client.chat.completions.create
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=200)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def alternate(on: Callable[[], None], off: Callable[[], None], calls: int, rounds: int) -> dict[str, float]:
    """Rounds of baseline then instrumented calls in one process, so drift hits both alike."""
    client = make_client()
    timed_calls(client, 100)  # warm up the client
    on()
    timed_calls(client, 100)  # warm up the instrumentation
    off()
    base: list[float] = []
    inst: list[float] = []
    for _ in range(rounds):
        base += timed_calls(client, calls)
        on()
        inst += timed_calls(client, calls)
        off()
    b, i = statistics.median(base), statistics.median(inst)
    return {"baseline_us": b, "instrumented_us": i, "overhead_us": i - b}


def run_llmsight(calls: int, rounds: int) -> dict[str, float]:
    import llmsight

    provider = make_provider()
    return alternate(lambda: llmsight.instrument(tracer_provider=provider, capture_content=True),
                     llmsight.uninstrument, calls, rounds)


def run_peer_worker(dist: str, calls: int, rounds: int) -> dict[str, float]:
    """Inside a peer's venv: load its instrumentor through its entry point, as opentelemetry-instrument does."""
    from importlib.metadata import entry_points

    from opentelemetry import trace

    provider = make_provider()
    trace.set_tracer_provider(provider)
    eps = [ep for ep in entry_points(group="opentelemetry_instrumentor")
           if ep.dist is not None and ep.dist.name.lower().replace("_", "-") == dist]
    if not eps:
        raise SystemExit(f"no opentelemetry_instrumentor entry point in {dist}")
    instrumentor = eps[0].load()()
    return alternate(lambda: instrumentor.instrument(tracer_provider=provider),
                     instrumentor.uninstrument, calls, rounds)


def peer_python(name: str, spec: dict[str, Any]) -> tuple[Path | None, str]:
    venv = VENV_ROOT / spec["dist"]
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists():
        return python, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "openai", "httpx2", "opentelemetry-sdk",
                        *spec["packages"]], check=True, capture_output=True, text=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        return None, f"pip install failed: {(exc.stderr or '').strip().splitlines()[-1:]}"
    except subprocess.TimeoutExpired:
        return None, "pip install timed out"
    marker.write_text("ok")
    return python, ""


def run_peer(name: str, spec: dict[str, Any], calls: int, rounds: int) -> tuple[dict[str, float] | None, str]:
    python, reason = peer_python(name, spec)
    if python is None:
        return None, reason
    env = {**os.environ, **spec["env"]}
    proc = subprocess.run([str(python), __file__, "--worker", spec["dist"], "--calls", str(calls),
                           "--rounds", str(rounds)], capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        return None, f"worker failed: {proc.stderr.strip().splitlines()[-1:] if proc.stderr else proc.returncode}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50, help="calls per round and variant")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--no-peers", action="store_true", help="measure llmsight only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_peer_worker(args.worker, args.calls, args.rounds)))
        return

    rows: list[tuple[str, dict[str, float] | None, str]] = []
    ours = run_llmsight(args.calls, args.rounds)
    rows.append(("llmsight", ours, ""))
    if not args.no_peers:
        for name, spec in PEERS.items():
            result, reason = run_peer(name, spec, args.calls, args.rounds)
            rows.append((name, result, reason))

    print(f"chat.completions.create, content capture on, {args.rounds}x{args.calls} calls per variant, "
          f"median per call (us); baseline = same process uninstrumented")
    print(f"| {'variant':<32} | {'baseline us':>11} | {'instrumented us':>15} | {'overhead us':>11} | "
          f"{'x llmsight':>10} |")
    print(f"|{'-' * 34}|{'-' * 13}:|{'-' * 17}:|{'-' * 13}:|{'-' * 12}:|")
    for name, result, reason in rows:
        if result is None:
            print(f"| {name:<32} | skipped: {reason}")
            continue
        ratio = result["overhead_us"] / ours["overhead_us"] if ours["overhead_us"] > 0 else float("nan")
        print(f"| {name:<32} | {result['baseline_us']:>11.1f} | {result['instrumented_us']:>15.1f} | "
              f"{result['overhead_us']:>11.1f} | {ratio:>10.1f} |")


if __name__ == "__main__":
    main()
