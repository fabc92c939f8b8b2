"""Overhead of tracing ``chat.completions.create`` (content capture on), llmsight vs its peers: per call,
and per chunk of a streamed reply.

Each variant runs against an in-process ``httpx2.MockTransport`` so that network time cannot hide
the cost, with spans going through a ``BatchSpanProcessor`` into a no-op exporter (what a user's
process pays). Each variant runs in its own process, alternating uninstrumented and instrumented
calls one by one (switched by swapping the patched class attributes, since some peers'
``uninstrument()`` leaves wrappers behind); the overhead is the median of the differences within
adjacent pairs, so drift and load from elsewhere hit both sides alike. llmsight runs twice: with
the app's own TracerProvider (spans built while the call runs: the SDK path) and with the
pipeline llmsight builds when the app has none (``instrument()`` alone: spans built on the
export thread; the no-op exporter sits behind llmsight's, which builds them, and the time that
takes is shown apart). Streams have ``STREAM_CHUNKS`` content chunks; the per-chunk figure is the
overhead of one ``next()`` in the middle of a stream, the per-stream one of a whole stream
(create, every chunk, end). ``dropped`` counts spans a full batch queue dropped while timing:
with no network wait here the app's thread holds the GIL nearly all the time, so an export thread
with work to do (llmsight's deferred spans are built there) can fall behind on a busy machine.
Peers conflict with each other's dependencies, so each runs in its
own virtualenv under /tmp, created on first use with pip (skipped with a reason if that fails).
A last call after timing is exported to show how many attributes a span has and whether the
prompt and answer text were captured.

Reproduce:  .venv/bin/python bench/instrumentation_overhead.py [--calls 2000 --streams 300] [--no-peers]"""

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


STREAM_CHUNKS = 40


def _stream_body() -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-mini", "system_fingerprint": "fp_bench"}

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return "data: " + json.dumps({**base, "choices": [choice]}) + "\n\n"

    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": f"word{i} "}) for i in range(STREAM_CHUNKS)]
    events.append(event({}, "stop"))
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def make_client() -> Any:
    import httpx2
    import openai

    body = json.dumps(RESPONSE).encode()
    stream_body = _stream_body()

    def handle(request: Any) -> Any:
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx2.Response(200, content=stream_body, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, content=body, headers={"content-type": "application/json"})

    return openai.OpenAI(api_key="sk-bench", base_url="http://bench.invalid/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handle)))


def null_exporter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class NullExporter(SpanExporter):
        """Drops spans; keeps the last batch, read after timing to check what a span carried."""

        last: Sequence[Any] = ()

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            self.last = spans
            return SpanExportResult.SUCCESS

    return NullExporter()


def make_provider() -> tuple[Any, Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = null_exporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider, exporter


def call(client: Any) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=200)


def stream_call(client: Any) -> tuple[int, int, int]:
    """(whole stream, one next() in the middle, the last next() that ends it) in ns."""
    clock = time.perf_counter_ns
    start = clock()
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    middle = last = 0
    n = 0
    while True:
        before = clock()
        try:
            next(stream)
        except StopIteration:
            last = clock() - before
            break
        n += 1
        if n == STREAM_CHUNKS // 2:
            middle = clock() - before
    return clock() - start, middle, last


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


def _overhead(samples: dict[bool, list[float]]) -> dict[str, float]:
    """Medians, and the overhead as the median of the differences within each adjacent pair of calls
    (one plain, one instrumented): a burst of load from elsewhere then hits both sides of a pair."""
    plain, traced = samples[False], samples[True]
    pairs = [t - p for p, t in zip(plain, traced, strict=True)]
    return {"baseline_us": statistics.median(plain), "instrumented_us": statistics.median(traced),
            "overhead_us": statistics.median(pairs)}


def _count_queue_full() -> Any:
    """Counts the spans batch processors drop while timing (their queue full: the export thread behind)."""
    import logging

    class Count(logging.Filter):
        count = 0

        def filter(self, record: logging.LogRecord) -> bool:
            if str(record.msg).startswith("Queue full"):
                self.count += 1
            return True

    counter = Count()
    logging.getLogger("opentelemetry.sdk._shared_internal").filters.insert(0, counter)
    return counter


def measure(instrument: Callable[[Any], Any], calls: int, stream_calls: int) -> dict[str, Any]:
    """Alternate uninstrumented and instrumented calls in one process, so drift hits both alike.

    Switching is done by swapping the patched class attributes (found by diffing the ``openai``
    classes before and after ``instrument``), not by ``uninstrument()``: some peers' uninstrument
    leaves wrappers behind. ``instrument(app_provider)`` returns the (provider, exporter) spans go to.
    """
    client = make_client()
    app_provider, app_exporter = make_provider()
    for _ in range(100):  # imports and warms the client
        call(client)
    stream_call(client)
    before = _class_attributes()
    provider, exporter = instrument(app_provider) or (app_provider, app_exporter)
    for _ in range(100):
        call(client)
    after = _class_attributes()
    patched = {key: (before[key], value) for key, value in after.items() if key in before and before[key] is not value}
    if not patched:
        raise SystemExit("instrumentation patched nothing in the openai classes")

    def switch(on: bool) -> None:
        for (owner, attr), (old, new) in patched.items():
            setattr(owner, attr, new if on else old)

    drops = _count_queue_full()
    clock = time.perf_counter_ns
    per_call: dict[bool, list[float]] = {False: [], True: []}
    for n in range(calls):
        for on in (n % 2 == 0, n % 2 == 1):  # each mode goes first half of the time
            switch(on)
            start = clock()
            call(client)
            per_call[on].append((clock() - start) / 1000)
    whole: dict[bool, list[float]] = {False: [], True: []}
    chunk: dict[bool, list[float]] = {False: [], True: []}
    end: dict[bool, list[float]] = {False: [], True: []}
    for n in range(stream_calls):
        for on in (n % 2 == 0, n % 2 == 1):
            switch(on)
            total, middle, last = stream_call(client)
            whole[on].append(total / 1000)
            chunk[on].append(middle / 1000)
            end[on].append(last / 1000)
    switch(True)
    result: dict[str, Any] = {**_overhead(per_call), "patched": len(patched), "dropped": drops.count,
                              "stream": _overhead(whole), "chunk": _overhead(chunk), "stream_end": _overhead(end)}

    # After timing: what did the last call's span carry (attributes, prompt and answer text)?
    provider.force_flush()
    exporter.last = ()
    call(client)
    provider.force_flush()
    spans = list(exporter.last)
    attributes = dict(spans[-1].attributes or {}) if spans else {}
    events = [dict(e.attributes or {}) for e in spans[-1].events] if spans else []
    blob = json.dumps([attributes, events], default=str)
    result["attributes"] = len(attributes)
    result["content"] = "tyre pressure" in blob and "Tubeless lets you" in blob
    result["spans"] = len(spans)
    return result


def export_thread_cost(spans: int = 2000) -> float:
    """us per span that llmsight's exporter spends building deferred spans (off the app's threads)."""
    from llmsight.instrumentation.deferred_spans import DeferredSpan, materialize

    client = make_client()
    queued: list[Any] = []
    original = DeferredSpan.end

    def keep(span: Any, end_time: Any = None) -> None:  # capture instead of queueing
        span._end = time.time_ns()
        queued.append(span)

    DeferredSpan.end = keep  # type: ignore[method-assign]
    try:
        for _ in range(spans):
            call(client)
    finally:
        DeferredSpan.end = original  # type: ignore[method-assign]
    start = time.perf_counter_ns()
    materialize(queued)
    return (time.perf_counter_ns() - start) / 1000 / max(1, len(queued))


def llmsight_instrument(provider: Any) -> None:
    """The app set its TracerProvider: llmsight's spans are built while the call runs (SDK path)."""
    from opentelemetry import trace

    import llmsight

    trace.set_tracer_provider(provider)
    llmsight.instrument(capture_content=True)


def llmsight_own_instrument(provider: Any) -> tuple[Any, Any]:
    """``instrument()`` with no provider in the app: llmsight's own pipeline (deferred spans), here
    with the no-op exporter in place of OTLP; the app's provider is not used."""
    from opentelemetry import trace

    import llmsight
    from llmsight.instrumentation import config, setup

    exporter = null_exporter()
    own, _ = setup.build_provider(exporter=exporter)
    trace.set_tracer_provider(own)
    llmsight.instrument(tracer_provider=own, capture_content=True)
    if config.SETTINGS is None or config.SETTINGS.deferred_spans is None:
        raise SystemExit("llmsight's own pipeline did not take the deferred path")
    return own, exporter


def peer_instrument(dist: str) -> Callable[[Any], None]:
    """Load a peer's instrumentor through its entry point, as opentelemetry-instrument does."""
    from importlib.metadata import entry_points

    eps = [ep for ep in entry_points(group="opentelemetry_instrumentor")
           if ep.dist is not None and ep.dist.name.lower().replace("_", "-") == dist]
    if not eps:
        raise SystemExit(f"no opentelemetry_instrumentor entry point in {dist}")

    def instrument(provider: Any) -> None:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
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


def worker(target: str, calls: int, stream_calls: int) -> dict[str, Any]:
    if target == "llmsight":
        return measure(llmsight_instrument, calls, stream_calls)
    if target == "llmsight-own":
        result = measure(llmsight_own_instrument, calls, stream_calls)
        result["export_thread_us"] = export_thread_cost()
        return result
    if target == "bare-span":
        return measure(bare_span_instrument, calls, stream_calls)
    return measure(peer_instrument(target), calls, stream_calls)


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
                streams: int) -> tuple[dict[str, Any] | None, str]:
    proc = subprocess.run([str(python), __file__, "--worker", target, "--calls", str(calls), "--streams", str(streams)],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=3600)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr else proc.returncode
        return None, f"worker failed: {tail}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def print_tables(rows: list[tuple[str, dict[str, Any] | None, str]], calls: int, streams: int) -> None:
    first = next((r for _, r, _ in rows if r is not None), None)
    unit = first["overhead_us"] if first and first["overhead_us"] > 0 else float("nan")
    print(f"chat.completions.create against httpx2.MockTransport, content capture on; {calls} uninstrumented and "
          f"{calls} instrumented calls per variant, interleaved; medians in us per call (overhead: of paired "
          f"differences)")
    print(f"| {'variant':<40} | {'baseline':>8} | {'instrumented':>12} | {'overhead':>8} | {'x row 1':>7} | "
          f"{'attrs':>5} | content | {'dropped':>7} |")
    print(f"|{'-' * 42}|{'-' * 9}:|{'-' * 13}:|{'-' * 9}:|{'-' * 8}:|{'-' * 6}:|---------|{'-' * 8}:|")
    for name, result, reason in rows:
        if result is None:
            print(f"| {name:<40} | skipped: {reason}")
            continue
        content = "yes" if result["content"] else "no"
        print(f"| {name:<40} | {result['baseline_us']:>8.0f} | {result['instrumented_us']:>12.0f} | "
              f"{result['overhead_us']:>8.1f} | {result['overhead_us'] / unit:>7.1f} | {result['attributes']!s:>5} | "
              f"{content:<7} | {result.get('dropped', 0):>7} |")
    print()
    print(f"streamed replies ({STREAM_CHUNKS} content chunks + 2), {streams} + {streams} streams per variant, "
          f"interleaved; overhead in us (medians): a whole stream, one chunk mid-stream, the last next() that "
          f"ends it")
    print(f"| {'variant':<40} | {'stream baseline':>15} | {'per stream':>10} | {'chunk baseline':>14} | "
          f"{'per chunk':>9} | {'stream end':>10} |")
    print(f"|{'-' * 42}|{'-' * 16}:|{'-' * 11}:|{'-' * 15}:|{'-' * 10}:|{'-' * 11}:|")
    for name, result, _ in rows:
        if result is None:
            continue
        whole, chunk, end = result["stream"], result["chunk"], result["stream_end"]
        print(f"| {name:<40} | {whole['baseline_us']:>15.0f} | {whole['overhead_us']:>10.1f} | "
              f"{chunk['baseline_us']:>14.1f} | {chunk['overhead_us']:>9.2f} | {end['overhead_us']:>10.1f} |")
    for name, result, _ in rows:
        if result is not None and "export_thread_us" in result:
            print(f"\n{name}: building a deferred span on the export thread takes {result['export_thread_us']:.1f} us "
                  f"(tight loop, warm; off the app's threads, before the exporter encodes it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per mode (interleaved)")
    parser.add_argument("--streams", type=int, default=300, help="streamed calls per mode (interleaved)")
    parser.add_argument("--no-peers", action="store_true", help="measure llmsight only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.calls, args.streams)))
        return

    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    rows: list[tuple[str, dict[str, Any] | None, str]] = []
    for target, name in (("llmsight-own", "llmsight, own pipeline (deferred spans)"),
                         ("llmsight", "llmsight, app's provider (SDK path)"),
                         ("bare-span", "bare SDK span (reference floor)")):
        result, reason = run_variant(Path(sys.executable), target, {}, args.calls, args.streams)
        if result is None and target.startswith("llmsight"):
            raise SystemExit(f"{name} failed: {reason}")
        rows.append((name, result, reason))
    if not args.no_peers:
        for name, spec in PEERS.items():
            python, reason = peer_python(name, spec)
            result = None
            if python is not None:
                result, reason = run_variant(python, spec["dist"], {**env, **spec["env"]}, args.calls, args.streams)
            rows.append((name, result, reason))
    print_tables(rows, args.calls, args.streams)


if __name__ == "__main__":
    main()
