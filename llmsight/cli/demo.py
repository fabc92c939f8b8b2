"""``llmsight demo``: the whole pipeline on this machine in about half a minute, no API key needed.

Registered by ``llmsight.cli.main`` when this module is present. The work is in
``llmsight.demo.runner``; this module checks the store, prints what happened, the report, one
trace and the next steps.
"""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from llmsight.cli.common import (
    StoreOption,
    console,
    default_note,
    err_console,
    fail,
    make_settings,
    serve_file,
    user_errors,
)
from llmsight.settings import DEFAULT_STORE


def demo(
    requests: Annotated[
        int, typer.Option("--requests", "-n", min=1, max=20_000, help="Questions the demo app answers.")
    ] = 300,
    judge: Annotated[
        str,
        typer.Option(
            "--judge",
            help="demo: the built-in heuristic judge; real: LLMSIGHT_JUDGE_MODEL (default gpt-4o-mini) with "
            "OPENAI_API_KEY / LLMSIGHT_JUDGE_API_KEY or LLMSIGHT_JUDGE_BASE_URL; auto: real when a key or "
            "endpoint is set.",
        ),
    ] = "auto",
    sample_rate: Annotated[
        float | None,
        typer.Option(
            "--sample-rate",
            min=0.0,
            max=1.0,
            help="Fraction of answers judged." + default_note("1.0 with the demo judge, 0.1 with a real one"),
            show_default=False,
        ),
    ] = None,
    clickhouse_url: StoreOption = None,
) -> None:
    """Run a demo RAG app against a built-in model, collect its traces, judge the answers, show the results.

    One process: a collector on free ports, a built-in OpenAI-compatible model, the instrumented app, the evaluator.

    The model answers mostly well, sometimes invented or off-topic, sometimes with a 429, a 500 or a timeout.

    The data stays in the store for `llmsight calls`, `trace`, `report` and Grafana.

    Example: [bold]llmsight demo --requests 100[/]
    """
    from llmsight.cli.evaluate import report
    from llmsight.cli.views import trace
    from llmsight.demo.runner import SERVICE_NAME, choose_judge, run_demo
    from llmsight.store.url import parse_store_url

    if judge not in ("auto", "demo", "real"):
        raise fail("--judge must be auto, demo or real")
    import importlib.util

    if importlib.util.find_spec("openai") is None:
        raise fail("the demo app and the evaluator need the openai package: pip install 'llmsight[evaluator]'")
    with user_errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        store = parse_store_url(settings.clickhouse_url)
        if store.embedded:
            from llmsight.cli.common import running_query_url

            if running_query_url(settings):
                raise fail(
                    f"the embedded store {store.path} belongs to a running `llmsight serve`. Stop it first "
                    "(the demo runs its own collector), or give the demo another store: "
                    "llmsight demo --clickhouse-url chdb://./demo-store"
                )
        chosen = choose_judge(judge)
        if judge == "real" and not (chosen.api_key or chosen.base_url):
            raise fail("--judge real needs OPENAI_API_KEY, LLMSIGHT_JUDGE_API_KEY or LLMSIGHT_JUDGE_BASE_URL")
        console.print(
            Panel(
                f"A support bot for [bold]Lumen Notes[/] (a made-up note-taking app) answers {requests} "
                "questions from 12 users, retrieving from 11 product documents. Its model is built in and "
                "answers like an LLM would: mostly well, sometimes invented or off-topic, sometimes a 429, "
                "a 500 or a timeout. llmsight traces every call, stores it in ClickHouse and has a judge "
                f"score the answers.\n\nstore  {store.display()}\njudge  {chosen.label}",
                title="llmsight demo",
                expand=False,
            )
        )

        def started(endpoints: dict) -> None:
            err_console.print(
                f"[dim]collector: OTLP {endpoints['otlp_http']}, query endpoint {endpoints['query']}\n"
                "(while the demo runs, `llmsight calls` in another terminal reads through it)[/]"
            )

        result = run_demo(
            settings.clickhouse_url,
            requests,
            judge=judge,
            sample_rate=sample_rate,
            console=err_console,
            serve_file=serve_file(settings) if store.embedded else None,
            on_started=started,
        )

    errors = ", ".join(f"{kind} {n}" for kind, n in sorted(result.errors.items())) or "none"
    mix = result.outcomes
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column()
    summary.add_row(
        "requests",
        f"{result.requests} questions to {SERVICE_NAME}; {result.succeeded} answered ({result.streamed} streamed)",
    )
    summary.add_row("failed", f"{result.failed} ({errors})")
    summary.add_row(
        "model's mix",
        f"{mix.get('grounded', 0)} grounded, {mix.get('ungrounded', 0)} invented, "
        f"{mix.get('off_topic', 0)} off-topic (the judge is not told)",
    )
    summary.add_row(
        "stored",
        f"{result.calls_stored} LLM calls, {result.retrieval_spans} retrievals, {result.spans_stored} spans",
    )
    judged = (
        f"{result.scored} scores: {result.passed} passed, {result.scored - result.passed} failing answers, "
        f"{result.not_applicable} n/a"
    )
    if result.judge_errors:
        judged += f", {result.judge_errors} judge errors"
    summary.add_row("judged", judged)
    summary.add_row("judge", result.judge)
    if result.judge_note:
        summary.add_row("note", f"[yellow]{result.judge_note}[/]")
    summary.add_row("took", f"{result.elapsed_s:.1f} s")
    console.print(Panel(summary, title="What happened", expand=False))

    last = f"{math.ceil(result.window_s)}s"
    url = settings.clickhouse_url
    report(last=last, service=SERVICE_NAME, model="", environment="", worst=1, output="table", clickhouse_url=url)
    if result.monitor_run is not None:
        from llmsight.cli.monitor import results_table

        run = result.monitor_run
        console.print()
        console.rule(f"The default monitor over this window: {run.state.replace('_', ' ')}")
        console.print(results_table([run]))
    if result.failing_trace_id:
        console.print()
        console.rule("One request whose answer failed a check")
        trace(result.failing_trace_id, full=False, clickhouse_url=url)
    console.print()
    console.print(
        Panel(_next_steps(settings.clickhouse_url, result.failing_trace_id), title="Next steps", expand=False)
    )


def _next_steps(store_url: str, trace_id: str | None) -> str:
    flag = "" if store_url == DEFAULT_STORE else f" --clickhouse-url {store_url}"
    short = (trace_id or "<trace id>")[:12]
    lines = [
        "The data stays in the store. Explore it from the terminal:",
        f"  llmsight calls --last 1h{flag}      [dim]# recent calls (--errors: failures)[/]",
        f"  llmsight trace {short}{flag}   [dim]# one request, with its scores[/]",
        f"  llmsight report --last 1h{flag}     [dim]# quality, errors, latency, cost[/]",
        "",
        "Send your own app's traces:",
        f"  llmsight serve{flag}",
        "  [dim]# in the app:[/]",
        '  import llmsight; llmsight.instrument(service_name="my-app")',
        "While serve runs it owns the embedded store; the commands above then",
        "read through its query endpoint on 127.0.0.1:8124.",
        "",
        "Grafana (dashboards and set-up: docs/grafana.md):",
        "- `docker compose up -d` runs ClickHouse, a collector and Grafana on",
        "  http://localhost:3000; fill that ClickHouse with the demo:",
        "  llmsight demo --clickhouse-url \\",
        "    http://default:llmsight@localhost:8123/otel",
        "- while `llmsight serve` runs, ClickHouse HTTP clients on this machine",
        "  (e.g. a local Grafana's ClickHouse data source) can read the store at",
        "  127.0.0.1:8124, database otel, with the token in .llmsight/serve.json.",
    ]
    return "\n".join(lines)
