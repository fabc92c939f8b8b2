"""Per-call overhead of tracing ``chat.completions.create`` (content capture on), llmsight vs its peers.

Each variant runs against an in-process ``httpx2.MockTransport`` so that network time cannot hide
the cost, with spans going through a ``BatchSpanProcessor`` into a no-op exporter (what a user's
process pays). Each variant runs in its own process, alternating rounds of uninstrumented and
instrumented calls (switched by swapping the patched class attributes, since some peers'
``uninstrument()`` leaves wrappers behind); the overhead is the difference of the medians.
Peers conflict with each other's dependencies, so each runs in its own virtualenv under /tmp,
created on first use with pip (skipped with a reason if that fails). A last call after timing is
recorded in memory to show how many attributes a span has and whether the prompt and answer text
were captured.

Reproduce:  .venv/bin/python bench/instrumentation_overhead.py [--calls 50 --rounds 40] [--no-peers]"""

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
        "packages": ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai==1.1b0", "httpx"],
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


def _class_attributes() -> dict[tuple[type, str], Any]:
    """Every attribute of every class in the loaded ``openai`` modules: where patchers put wrappers."""
    found: dict[tuple[type, str], Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "openai" or name.startswith("openai.")):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and obj.__module__ == name:
                for attr, value in list(vars(obj).items()):
                    found[(obj, attr)] = value
    return found


def measure(instrument: Callable[[Any], None], calls: int, rounds: int) -> dict[str, Any]:
    """Alternate uninstrumented and instrumented rounds in one process, so drift hits both alike.

    Switching is done by swapping the patched class attributes (found by diffing the ``openai``
    classes before and after ``instrument``), not by ``uninstrument()``: some peers' uninstrument
    leaves wrappers behind.
    """
    client = make_client()
    provider = make_provider()
    from opentelemetry import trace

    trace.set_tracer_provider(provider)
    timed_calls(client, 100)  # imports and warms the client
    before = _class_attributes()
    instrument(provider)
    timed_calls(client, 100)
    after = _class_attributes()
    patched = {key: (before[key], value) for key, value in after.items() if key in before and before[key] is not value}
    if not patched:
        raise SystemExit("instrumentation patched nothing in the openai classes")

    def switch(on: bool) -> None:
        for (owner, attr), (old, new) in patched.items():
            setattr(owner, attr, new if on else old)

    base: list[float] = []
    inst: list[float] = []
    for _ in range(rounds):
        switch(False)
        base += timed_calls(client, calls)
        switch(True)
        inst += timed_calls(client, calls)
    b, i = statistics.median(base), statistics.median(inst)
    result: dict[str, Any] = {"baseline_us": b, "instrumented_us": i, "overhead_us": i - b,
                              "patched": len(patched)}

    # After timing: does a span carry attributes, and the prompt and answer text?
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    timed_calls(client, 1)
    spans = memory.get_finished_spans()
    attributes = dict(spans[-1].attributes or {}) if spans else {}
    events = [dict(e.attributes or {}) for e in spans[-1].events] if spans else []
    blob = json.dumps([attributes, events], default=str)
    result["attributes"] = len(attributes)
    result["content"] = "tyre pressure" in blob and "Tubeless lets you" in blob
    result["spans"] = len(spans)
    return result


def llmsight_instrument(provider: Any) -> None:
    import llmsight

    llmsight.instrument(tracer_provider=provider, capture_content=True)


def peer_instrument(dist: str) -> Callable[[Any], None]:
    """Load a peer's instrumentor through its entry point, as opentelemetry-instrument does."""
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="opentelemetry_instrumentor")
           if ep.dist is not None and ep.dist.name.lower().replace("_", "-") == dist]
    if not eps:
        raise SystemExit(f"no opentelemetry_instrumentor entry point in {dist}")

    def instrument(provider: Any) -> None:
        eps[0].load()().instrument(tracer_provider=provider)

    return instrument


def bare_span_instrument(provider: Any) -> None:
    """Reference floor: one SDK span (5 attributes, no content) around each call, nothing else."""
    import wrapt

    tracer = provider.get_tracer("floor")
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                  "gen_ai.request.model": "gpt-4o-mini", "server.address": "bench.invalid", "server.port": 80}

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = tracer.start_span("chat gpt-4o-mini", attributes=attributes)
        try:
            return wrapped(*args, **kwargs)
        finally:
            span.end()

    wrapt.wrap_function_wrapper("openai.resources.chat.completions.completions", "Completions.create", wrapper)


def worker(target: str, calls: int, rounds: int) -> dict[str, Any]:
    if target == "llmsight":
        return measure(llmsight_instrument, calls, rounds)
    if target == "bare-span":
        return measure(bare_span_instrument, calls, rounds)
    return measure(peer_instrument(target), calls, rounds)


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


def run_variant(python: Path, target: str, env: dict[str, str], calls: int,
                rounds: int) -> tuple[dict[str, Any] | None, str]:
    proc = subprocess.run([str(python), __file__, "--worker", target, "--calls", str(calls), "--rounds", str(rounds)],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=1800)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr else proc.returncode
        return None, f"worker failed: {tail}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50, help="calls per round and mode")
    parser.add_argument("--rounds", type=int, default=40, help="baseline/instrumented round pairs")
    parser.add_argument("--no-peers", action="store_true", help="measure llmsight only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls, args.rounds)))
        return

    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    rows: list[tuple[str, dict[str, Any] | None, str]] = []
    ours, reason = run_variant(Path(sys.executable), "llmsight", {}, args.calls, args.rounds)
    if ours is None:
        raise SystemExit(f"llmsight run failed: {reason}")
    rows.append(("llmsight", ours, ""))
    floor, reason = run_variant(Path(sys.executable), "bare-span", {}, args.calls, args.rounds)
    rows.append(("bare SDK span (reference floor)", floor, reason))
    if not args.no_peers:
        for name, spec in PEERS.items():
            python, reason = peer_python(name, spec)
            result = None
            if python is not None:
                result, reason = run_variant(python, spec["dist"], {**env, **spec["env"]}, args.calls,
                                             args.rounds)
            rows.append((name, result, reason))

    print(f"chat.completions.create against httpx2.MockTransport, content capture on; {args.rounds} rounds of "
          f"{args.calls} uninstrumented + {args.calls} instrumented calls per variant; medians in us per call")
    print(f"| {'variant':<30} | {'baseline':>8} | {'instrumented':>12} | {'overhead':>8} | {'x llmsight':>10} | "
          f"{'attrs':>5} | content |")
    print(f"|{'-' * 32}|{'-' * 9}:|{'-' * 13}:|{'-' * 9}:|{'-' * 11}:|{'-' * 6}:|---------|")
    for name, result, reason in rows:
        if result is None:
            print(f"| {name:<30} | skipped: {reason}")
            continue
        ratio = result["overhead_us"] / ours["overhead_us"] if ours["overhead_us"] > 0 else float("nan")
        content = "yes" if result["content"] else "no"
        print(f"| {name:<30} | {result['baseline_us']:>8.0f} | {result['instrumented_us']:>12.0f} | "
              f"{result['overhead_us']:>8.0f} | {ratio:>10.1f} | {result['attributes']!s:>5} | {content:<7} |")


if __name__ == "__main__":
    main()
