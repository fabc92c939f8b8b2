"""One instrumented app, run in its own process by test_peers.py: ``python peer_app.py PEER OTLP_URL``.

It instruments the real ``openai`` client with one peer instrumentation (each patches the same client
methods, so one peer per process), makes the same calls against the fake OpenAI server that
test_peers.py checks in ``llm_calls``, exports spans (and the log records that carry the official
instrumentation's content events) over OTLP/HTTP, and prints one JSON line: what each call raised.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

# Environment the peers read when they are instrumented: each is set before its import.
PEER_ENV: dict[str, dict[str, str]] = {
    "llmsight": {},
    # opentelemetry-util-genai >= 1.0 always writes the latest GenAI conventions (the opt-in is what the
    # official docs ask for); the capture mode puts content on the span or in a log event only.
    "official": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
    },
    "official-events": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
    },
    "openllmetry": {"TRACELOOP_TRACE_CONTENT": "true"},
    # use_attributes=False: content only in per-message log events (gen_ai.user.message, gen_ai.choice, ...)
    "openllmetry-events": {"TRACELOOP_TRACE_CONTENT": "true"},
    "openinference": {},
}

MESSAGES = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Weather in Paris?"}]
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
# The calls, in order: test_peers.py reads the rows back in this order (by span start).
CASES = ["chat", "stream_usage", "stream_no_usage", "tool_call", "embeddings", "error_500", "error_429"]


def instrument(peer: str, tracer_provider: Any, logger_provider: Any) -> Callable[[], None]:
    """Instrument the openai client with ``peer``; returns the undo."""
    if peer == "llmsight":
        import llmsight

        llmsight.instrument(tracer_provider=tracer_provider)
        return llmsight.uninstrument
    if peer in ("official", "official-events"):
        # 2.4b0 does `from httpx import URL`; openai 3 brings httpx2, not httpx: the app aliases it
        import httpx2

        httpx2.alias_httpx()
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Official

        official = Official()
        official.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
        return official.uninstrument
    if peer in ("openllmetry", "openllmetry-events"):
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry

        openllmetry = OpenLLMetry(use_attributes=peer == "openllmetry")
        openllmetry.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
        return openllmetry.uninstrument
    if peer == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInference

        openinference = OpenInference()
        openinference.instrument(tracer_provider=tracer_provider)
        return openinference.uninstrument
    raise SystemExit(f"unknown peer {peer}")


def run_cases(client: Any, fake: Any) -> dict[str, str]:
    """Make the calls; each case's outcome is ``ok`` or the class name of what the client raised."""
    import openai
    from fake_openai import chat, embeddings, error

    def chat_call(**kwargs: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **kwargs)

    steps: dict[str, Callable[[], Any]] = {
        "chat": lambda: chat_call(temperature=0.2),
        "stream_usage": lambda: list(chat_call(stream=True, stream_options={"include_usage": True})),
        "stream_no_usage": lambda: list(chat_call(stream=True)),
        "tool_call": lambda: chat_call(tools=[WEATHER_TOOL]),
        "embeddings": lambda: client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"]),
        "error_500": lambda: chat_call(),
        "error_429": lambda: chat_call(),
    }
    fake.enqueue(
        chat("Sunny.", usage=(21, 4), cached_tokens=5, reasoning_tokens=2),
        chat("Sunny and warm.", usage=(12, 6), piece_size=3, chunk_delay=0.01),
        chat("Cloudy.", usage=(9, 3), piece_size=3, chunk_delay=0.01),
        chat(None, tool_calls=[CALL], usage=(30, 8)),
        embeddings(prompt_tokens=6),
        error(500, "upstream exploded", kind="server_error"),
        error(429, "slow down", kind="rate_limit_error"),
    )
    outcomes: dict[str, str] = {}
    for case in CASES:
        try:
            steps[case]()
            outcomes[case] = "ok"
        except openai.APIError as exc:
            outcomes[case] = type(exc).__name__
    return outcomes


def main(peer: str, otlp_url: str) -> None:
    os.environ.update(PEER_ENV[peer])
    import openai
    from fake_openai import FakeOpenAI
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    resource = Resource.create({"service.name": f"compat-{peer}"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces")))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp_url}/v1/logs")))
    undo = instrument(peer, tracer_provider, logger_provider)
    try:
        with FakeOpenAI() as fake:
            client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
            outcomes = run_cases(client, fake)
            outcomes["requests"] = str(len(fake.requests))
    finally:
        undo()
        tracer_provider.shutdown()
        logger_provider.shutdown()
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main(*sys.argv[1:3])
