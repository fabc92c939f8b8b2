"""Run the whole demo in one process: collector, demo model, instrumented app, evaluator.

``run_demo(store_url)`` starts a collector in a thread on the store (OTLP and query endpoints on
free ports), starts the built-in model server, instruments the demo app with its own tracer
provider (so an app's global OpenTelemetry set-up, or a test's, is left alone), sends the
requests, waits until every span is in ClickHouse, prices the calls and runs the evaluator once.
The judge is the demo model's heuristic judge unless a real one is configured and asked for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

SERVICE_NAME = "demo-rag-app"
DEFAULT_REAL_JUDGE = "gpt-4o-mini"


@dataclass
class JudgeChoice:
    model: str
    base_url: str
    api_key: str
    demo: bool

    @property
    def label(self) -> str:
        if self.demo:
            return "demo-judge (built-in heuristic judge)"
        return f"{self.model} at {self.base_url or 'api.openai.com'}"


@dataclass
class DemoResult:
    store: str
    requests: int
    succeeded: int
    streamed: int
    errors: dict[str, int]
    outcomes: dict[str, int]  # what the demo model was set to do; the judge does not see this
    calls_stored: int
    retrieval_spans: int
    spans_stored: int
    judge: str
    judge_calls: int
    scored: int
    passed: int
    not_applicable: int
    judge_errors: int
    judge_note: str  # e.g. why a real judge was replaced by the demo judge
    failing_trace_id: str | None
    elapsed_s: float
    window_s: float  # seconds back from the end that cover this run
    endpoints: dict[str, str | None] = field(default_factory=dict)
    monitor_run: Any = None  # the default monitor's run over the demo's window (llmsight.monitors.results.Run)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def _run_monitor(client: Any, database: str, judge_model: str, window_s: float) -> Any:
    """The default monitor (what `serve` runs without a monitor file) once, over the demo's calls and window:
    its results are stored like any run, so `llmsight monitors` shows them afterwards."""
    import datetime as dt

    from llmsight.monitors.config import Target, default_monitor_file
    from llmsight.monitors.runner import JudgeSettings, run_monitor

    (monitor,) = default_monitor_file().monitors
    monitor = monitor.model_copy(update={"target": Target(service=SERVICE_NAME), "lookback": max(60.0, window_s)})
    now = dt.datetime.now(dt.timezone.utc)
    return run_monitor(monitor, client, database, run_at=now, judge=JudgeSettings(judge_model))


def choose_judge(mode: str = "auto", env: dict[str, str] | None = None) -> JudgeChoice:
    """``demo``: the built-in judge; ``real``: the configured one; ``auto``: real when a key or endpoint is set.

    A real judge is LLMSIGHT_JUDGE_MODEL (default gpt-4o-mini) at LLMSIGHT_JUDGE_BASE_URL (default
    api.openai.com) with LLMSIGHT_JUDGE_API_KEY or OPENAI_API_KEY.
    """
    env = dict(os.environ if env is None else env)
    key = env.get("LLMSIGHT_JUDGE_API_KEY") or env.get("OPENAI_API_KEY") or ""
    base_url = env.get("LLMSIGHT_JUDGE_BASE_URL") or ""
    if mode not in ("auto", "demo", "real"):
        raise ValueError("judge must be auto, demo or real")
    if mode == "demo" or (mode == "auto" and not (key or base_url)):
        return JudgeChoice("demo-judge", "", "", demo=True)
    return JudgeChoice(env.get("LLMSIGHT_JUDGE_MODEL") or DEFAULT_REAL_JUDGE, base_url, key, demo=False)


def _progress(console: Console, enabled: bool) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
    )


def run_demo(
    store_url: str,
    requests: int = 300,
    *,
    judge: str = "auto",
    sample_rate: float | None = None,
    seed: int = 7,
    workers: int = 4,
    progress: bool = True,
    console: Console | None = None,
    serve_file: Any = None,
    on_started: Callable[[dict[str, str | None]], None] | None = None,
) -> DemoResult:
    """Run the demo against ``store_url`` and return what happened.

    ``sample_rate`` defaults to 1.0 with the demo judge and 0.1 with a real one (it costs money).
    ``serve_file`` (a path) makes the running demo findable like ``llmsight serve``, so other
    terminals can read the store through its query endpoint while it runs.
    """
    import openai
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import llmsight
    from llmsight.collector.server import Collector, free_port
    from llmsight.demo.app import DemoApp, traffic
    from llmsight.demo.model import JUDGE_MODEL, DemoModelServer
    from llmsight.evaluator.config import EvaluatorConfig
    from llmsight.evaluator.judge import JudgeFatalError
    from llmsight.evaluator.worker import RunSummary, run_once
    from llmsight.settings import Settings
    from llmsight.store.client import open_client
    from llmsight.store.prices import resolve_prices

    console = console or Console(stderr=True)
    started = time.monotonic()
    choice = choose_judge(judge)
    settings = Settings(
        clickhouse_url=store_url,
        host="127.0.0.1",
        http_port=free_port(),
        grpc_port=free_port(),
        query_port=free_port(),
        batch_timeout_ms=50,
    )
    collector = Collector(settings, serve_file=serve_file, owner="demo")
    model = DemoModelServer(seed=seed)
    provider: TracerProvider | None = None
    instrumented = False
    bars = _progress(console, progress)
    try:
        with bars:
            boot = bars.add_task("starting collector and demo model", total=2)
            collector.start_in_thread()
            bars.advance(boot)
            model.start()
            bars.advance(boot)
            endpoints = {"otlp_http": collector.endpoints.http, "query": collector.endpoints.query}
            if on_started is not None:
                on_started(endpoints)

            provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
            exporter = OTLPSpanExporter(endpoint=f"{collector.endpoints.http}/v1/traces", timeout=10)
            provider.add_span_processor(
                BatchSpanProcessor(exporter, max_queue_size=max(2048, requests * 4), schedule_delay_millis=250)
            )
            llmsight.instrument(tracer_provider=provider, stream_usage=True)
            instrumented = True
            # The demo model sends stream usage only when asked, as OpenAI does: say so, so that llmsight asks
            # from the first stream instead of learning it from one stream without usage.
            from urllib.parse import urlsplit

            from llmsight.instrumentation.streams import learn_usage_habit

            parts = urlsplit(model.base_url)
            learn_usage_habit((parts.hostname or "", parts.port or 80), sent_unasked=False)
            app = DemoApp(model.base_url)
            sending = bars.add_task(f"app: answering {requests} questions", total=requests)
            # A few users at a time, as a real app would serve them (each request is its own trace).
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="demo-app") as pool:
                for _ in pool.map(app.handle, traffic(requests, seed=seed + 4)):
                    bars.advance(sending)

            storing = bars.add_task("collector: storing spans in ClickHouse", total=1)
            llmsight.uninstrument()
            instrumented = False
            provider.force_flush(30_000)
            collector.wait_until_stored(timeout=60)
            bars.advance(storing)

            store = collector.store
            client = open_client(store)
            try:
                resolve_prices(client, store.database)
                window_s = time.monotonic() - started + 5
                since = f"now64(9) - toIntervalMillisecond({int(window_s * 1000)})"
                svc = f"ServiceName = '{SERVICE_NAME}'"
                calls_stored = int(
                    client.command(f"SELECT count() FROM llm_calls WHERE {svc} AND Timestamp >= {since}")
                )
                retrieval_spans, spans_stored = client.query(
                    f"SELECT countIf(SpanAttributes['gen_ai.operation.name'] = 'retrieval'), count() "
                    f"FROM otel_traces WHERE {svc} AND Timestamp >= {since}"
                ).result_rows[0]

                judging = bars.add_task(f"judge: scoring answers ({choice.model})", total=None)

                def advance(done: int, total: int) -> None:
                    bars.update(judging, completed=done, total=total)

                def config(c: JudgeChoice) -> EvaluatorConfig:
                    rate = sample_rate if sample_rate is not None else (1.0 if c.demo else 0.1)
                    return EvaluatorConfig(
                        judge_model=JUDGE_MODEL if c.demo else c.model,
                        judge_base_url=model.base_url if c.demo else c.base_url,
                        judge_api_key="demo" if c.demo else c.api_key,
                        sample_rate=rate,
                        since_s=window_s + 60,
                        service=SERVICE_NAME,
                        concurrency=8,
                        max_retries=1 if c.demo else 2,
                        timeout_s=30,
                        max_calls_per_hour=0 if c.demo else 1000,
                        max_spans_per_run=max(500, requests),
                        emit_events=False,
                    )

                note = ""
                try:
                    summary: RunSummary = run_once(config(choice), client, store.database, progress=advance)
                    if not choice.demo and summary.planned and not summary.scored:
                        note = summary.stopped or f"{summary.judge_errors} judge errors, nothing scored"
                except (JudgeFatalError, openai.OpenAIError) as exc:
                    note = str(exc)
                if note:  # a real judge that cannot work must not leave the demo without scores
                    note = f"the judge {choice.label} failed ({note[:200]}); scored with the demo judge instead"
                    choice = choose_judge("demo")
                    bars.update(judging, description="judge: scoring answers (demo-judge)", completed=0)
                    summary = run_once(config(choice), client, store.database, progress=advance)
                bars.update(judging, total=max(summary.planned, 1), completed=max(summary.planned, 1))
                # The drill-down: preferably an answer that is on topic but not grounded (an invented one).
                failing = client.query(
                    f"SELECT TraceId FROM evaluations FINAL WHERE {svc} AND Status = 'ok' "
                    f"AND SpanTimestamp >= {since} GROUP BY TraceId "
                    f"HAVING countIf(Metric = 'groundedness' AND Passed = 0) > 0 "
                    f"ORDER BY countIf(Metric = 'relevance' AND Passed = 1) DESC, "
                    f"minIf(Score, Metric = 'groundedness'), max(SpanTimestamp) DESC LIMIT 1"
                ).result_rows
                if not failing:
                    failing = client.query(
                        f"SELECT TraceId FROM evaluations FINAL WHERE {svc} AND Status = 'ok' AND Passed = 0 "
                        f"AND SpanTimestamp >= {since} ORDER BY Score, SpanTimestamp DESC LIMIT 1"
                    ).result_rows
                monitor_run = _run_monitor(
                    client, store.database, JUDGE_MODEL if choice.demo else choice.model, window_s
                )
            finally:
                client.close()
    finally:
        if instrumented:
            llmsight.uninstrument()
        if provider is not None:
            provider.shutdown()
        model.stop()
        collector.stop_thread()
    return DemoResult(
        store=collector.store.display(),
        requests=requests,
        succeeded=app.ok,
        streamed=app.streamed,
        errors=dict(app.errors),
        outcomes=dict(model.outcomes),
        calls_stored=calls_stored,
        retrieval_spans=int(retrieval_spans),
        spans_stored=int(spans_stored),
        judge=choice.label,
        judge_calls=summary.planned - summary.deferred,
        scored=summary.scored,
        passed=summary.passed,
        not_applicable=summary.not_applicable,
        judge_errors=summary.judge_errors + summary.parse_errors,
        judge_note=note,
        failing_trace_id=failing[0][0] if failing else None,
        monitor_run=monitor_run,
        elapsed_s=time.monotonic() - started,
        window_s=time.monotonic() - started + 5,
        endpoints=endpoints,
    )
