"""``llmsight evaluate`` and ``llmsight report``: score stored calls with a judge, then summarise.

Registered by ``llmsight.cli.main`` when this module is present. User mistakes (no judge, bad
metric name, store owned by a running serve, rejected key) end as one red line, exit 2.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmsight.cli.common import (
    StoreOption,
    console,
    default_note,
    env_default,
    err_console,
    fail,
    make_settings,
    query_client,
    running_serve,
    setting_default,
    user_errors,
)


@contextmanager
def _schema_hint() -> Iterator[None]:
    """A store without llmsight's tables gets a hint to create them instead of a ClickHouse error code."""
    try:
        yield
    except Exception as exc:
        if "UNKNOWN_DATABASE" in str(exc) or "UNKNOWN_TABLE" in str(exc):
            raise fail(
                "the store has no llmsight schema yet: run `llmsight db init` "
                "(or start `llmsight serve`, which creates it)"
            ) from None
        raise


def _config(settings: Any, **overrides: Any) -> Any:
    from llmsight.evaluator.config import EvaluatorConfig, EvaluatorConfigError
    from llmsight.evaluator.metrics import UnknownMetricError, parse_metrics
    from llmsight.evaluator.rubric import RubricError
    from llmsight.evaluator.worker import load_rubrics

    try:
        cfg = EvaluatorConfig.from_settings(settings, **overrides)
        load_rubrics(parse_metrics(list(cfg.metrics)), cfg.rubrics_dir)  # fail now, not mid-run
    except (EvaluatorConfigError, UnknownMetricError, RubricError) as exc:
        raise fail(str(exc)) from None
    return cfg


def _duration(text: str) -> float:
    from llmsight.evaluator.config import EvaluatorConfigError, parse_duration

    try:
        return parse_duration(text)
    except EvaluatorConfigError as exc:
        raise fail(str(exc)) from None


def _summary_table(summary: Any, judge_model: str, judge_source: str = "") -> Table:
    """The run's counts; a dry run also names the judge it planned for and prices its calls at that judge's rates."""
    from llmsight.evaluator.judge import judge_prices

    title = "Dry run: nothing was sent to the judge" if summary.estimated else "Evaluation run"
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    if summary.estimated:
        table.add_row("planned for judge", f"{judge_model} ({judge_source})" if judge_source else judge_model)
    table.add_row("sampled calls with work left", str(summary.candidates))
    table.add_row("judge calls" + (" planned" if summary.estimated else ""), str(summary.planned))
    if not summary.estimated:
        table.add_row("scored (passed)", f"{summary.scored} ({summary.passed})")
        table.add_row("parse errors / judge errors", f"{summary.parse_errors} / {summary.judge_errors}")
        table.add_row("left for a later run", str(summary.deferred))
    table.add_row("not applicable (missing inputs)", str(summary.not_applicable))
    prefix = "~" if summary.estimated else ""
    table.add_row("judge tokens in / out", f"{prefix}{summary.input_tokens:,} / {prefix}{summary.output_tokens:,}")
    cost = f"{prefix}${summary.cost:,.4f}"
    if summary.estimated and summary.planned:
        priced = judge_prices(judge_model) != (0.0, 0.0)
        cost += f" at {judge_model} prices" if priced else f" (no price for {judge_model!r})"
    table.add_row("judge cost", cost)
    if summary.stopped:
        table.add_row("stopped early", summary.stopped)
    return table


def _interval_text() -> str:
    """The interval a repeating evaluate waits between passes, for its help: the env var's, else the default."""
    from llmsight.settings import Settings

    return os.environ.get("LLMSIGHT_EVALUATE_INTERVAL_S") or f"{Settings.model_fields['evaluate_interval_s'].default:g}"


def evaluate(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one pass and exit."
            + default_note(
                f"off: a pass every {_interval_text()}s until Ctrl-C; the interval is LLMSIGHT_EVALUATE_INTERVAL_S"
            ),
        ),
    ] = False,
    since: Annotated[str, typer.Option("--since", help="Judge calls from this far back: 30m, 1h, 7d.")] = "1h",
    sample_rate: Annotated[
        float | None,
        typer.Option(
            "--sample-rate",
            min=0.0,
            max=1.0,
            help="Fraction of calls to judge; the same calls are picked on every run." + setting_default("sample_rate"),
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            help="Comma-separated: groundedness, relevance, coherence, fluency, similarity."
            + env_default("LLMSIGHT_EVALUATOR_METRICS", "all"),
            show_default=False,
        ),
    ] = None,
    service: Annotated[
        str, typer.Option("--service", help="Only calls of this service." + default_note("all"), show_default=False)
    ] = "",
    model: Annotated[
        str, typer.Option("--model", help="Only calls to this model." + default_note("all"), show_default=False)
    ] = "",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Estimate judge calls, tokens and cost; call nothing, write nothing. Without a judge model it "
            "plans for serve's judge, else the one that last scored the store, else gpt-4o-mini." + default_note("off"),
        ),
    ] = False,
    score_mode: Annotated[
        str,
        typer.Option(
            "--score-mode", help="integer, or weighted (probability-weighted score from logprobs, G-Eval style)."
        ),
    ] = "integer",
    judge_model: Annotated[
        str | None,
        typer.Option(
            "--judge-model",
            envvar="LLMSIGHT_JUDGE_MODEL",
            help="Judge model, e.g. gpt-4o-mini; a run needs one." + default_note("none"),
            show_default=False,
        ),
    ] = None,
    judge_base_url: Annotated[
        str | None,
        typer.Option(
            "--judge-base-url",
            envvar="LLMSIGHT_JUDGE_BASE_URL",
            help="OpenAI-compatible endpoint." + default_note("https://api.openai.com/v1"),
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Judge calls in flight." + env_default("LLMSIGHT_JUDGE_CONCURRENCY", 4),
            show_default=False,
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="I/N: judge only shard I of N of the sample, so N workers share it (e.g. 0/3, 1/3, 2/3)."
            + env_default("LLMSIGHT_EVALUATOR_SHARD", "the whole sample"),
            show_default=False,
        ),
    ] = None,
    rubrics_dir: Annotated[
        str | None,
        typer.Option(
            "--rubrics-dir",
            envvar="LLMSIGHT_RUBRICS_DIR",
            help="Directory of <metric>.md rubrics overriding the built-in ones." + default_note("built-in rubrics"),
            show_default=False,
        ),
    ] = None,
    clickhouse_url: StoreOption = None,
) -> None:
    """Score sampled LLM calls with a judge model and store the scores.

    Example: [bold]LLMSIGHT_JUDGE_MODEL=gpt-4o-mini llmsight evaluate --once --since 24h --sample-rate 0.2[/]

    Estimate first: [bold]llmsight evaluate --dry-run --since 7d --metrics groundedness,relevance[/]
    """
    from llmsight.evaluator.judge import JudgeFatalError
    from llmsight.evaluator.worker import run_once
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    with user_errors(), _schema_hint():
        settings = make_settings(
            clickhouse_url=clickhouse_url,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
            sample_rate=sample_rate,
        )
        cfg = _config(
            settings,
            since_s=_duration(since),
            metrics=metrics,
            service=service,
            model=model,
            score_mode=score_mode,
            concurrency=concurrency,
            shard=shard,
            rubrics_dir=rubrics_dir,
        )
        if not dry_run:
            from llmsight.evaluator.config import EvaluatorConfigError

            try:
                cfg.require_judge()
            except EvaluatorConfigError as exc:
                raise fail(str(exc)) from None
        store = parse_store_url(settings.clickhouse_url)
        serving = running_serve(settings) if store.embedded else None
        if serving and not dry_run:
            raise fail(_owned_by_serve(store.path, serving))
        client = query_client(settings) if serving else open_client(store)
        if dry_run:
            source = ""
            if not cfg.judge_model:
                from dataclasses import replace

                from llmsight.evaluator.sampling import planning_judge

                serve_judge = ((serving or {}).get("evaluator") or {}).get("judge_model") or ""
                judge, source = planning_judge(client, store.database, serve_judge)
                cfg = replace(cfg, judge_model=judge)
            summary = run_once(cfg, client, store.database, dry_run=True)
            console.print(_summary_table(summary, cfg.judge_model, source))
            return
        while True:
            with Progress(
                TextColumn("judging"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("judging", total=None)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)  # noqa: B023 (used within the loop body)

                try:
                    summary = run_once(cfg, client, store.database, progress=advance)
                except JudgeFatalError as exc:
                    raise fail(str(exc)) from None
            console.print(_summary_table(summary, cfg.judge_model))
            if once:
                return
            try:
                time.sleep(settings.evaluate_interval_s)
            except KeyboardInterrupt:
                return


def _owned_by_serve(store_path: str, serving: dict[str, Any]) -> str:
    """Why evaluate refuses a store a running serve owns, with what that serve really does (from serve.json)."""
    evaluator = serving.get("evaluator")
    if not isinstance(evaluator, dict):  # a serve.json written before it carried the evaluator's settings
        doing = "runs the evaluator itself when a judge is configured (LLMSIGHT_JUDGE_MODEL)"
    elif evaluator.get("judge_model"):
        doing = (
            f"runs the evaluator itself, judging with {evaluator['judge_model']} "
            f"every {float(evaluator.get('interval_s') or 60):g}s"
        )
    else:
        doing = (
            "runs the evaluator itself when a judge is configured; it was started without one "
            "(set LLMSIGHT_JUDGE_MODEL for it and restart it)"
        )
    return (
        f"the embedded store {store_path} belongs to a running `llmsight serve`, which {doing}. Stop serve to "
        "evaluate by hand, or use a ClickHouse server store. `llmsight evaluate --dry-run` and `llmsight report` "
        "work while serve runs."
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def report(
    last: Annotated[str, typer.Option("--last", help="Window to report on: 1h, 24h, 7d.")] = "24h",
    service: Annotated[
        str, typer.Option("--service", help="Only this service." + default_note("all"), show_default=False)
    ] = "",
    model: Annotated[
        str, typer.Option("--model", help="Only calls to this model." + default_note("all"), show_default=False)
    ] = "",
    worst: Annotated[int, typer.Option("--worst", min=0, help="Worst samples shown per metric.")] = 3,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    clickhouse_url: StoreOption = None,
) -> None:
    """Quality scores beside traffic, errors, latency and cost for one window.

    Example: [bold]llmsight report --last 7d --service checkout[/]
    """
    from llmsight.evaluator.report import build_report

    if output not in ("table", "json"):
        raise fail("--format must be table or json")
    window = _duration(last)
    with user_errors(), _schema_hint():
        settings = make_settings(clickhouse_url=clickhouse_url)
        client = query_client(settings)
        from llmsight.store.url import parse_store_url

        rep = build_report(
            client,
            parse_store_url(settings.clickhouse_url).database,
            window,
            service=service,
            model=model,
            worst_n=worst,
        )
    if output == "json":
        console.print_json(json.dumps(rep.as_dict(), default=str))
        return
    # One judge (the usual case) goes in the title, so the table fits 80 columns.
    judges = sorted({m.judge_model for m in rep.metrics})
    one_judge = len(judges) <= 1
    title = f"Quality, last {last}" + (f", judge {judges[0]}" if one_judge and judges else "")
    quality = Table(title=title, box=box.SIMPLE_HEAD)
    columns = ["metric", *([] if one_judge else ["judge"]), "avg", "pass", "thr", "viol", "scored", "n/a", "errors",
               "cost"]  # fmt: skip
    for col in columns:
        quality.add_column(col, justify="left" if col in ("metric", "judge") else "right", no_wrap=True)
    for m in rep.metrics:
        quality.add_row(
            m.metric,
            *([] if one_judge else [m.judge_model]),
            _fmt(m.avg_score),
            _pct(m.pass_rate),
            f"{m.threshold:g}",
            str(m.violations),
            str(m.scored),
            str(m.not_applicable),
            str(m.parse_errors + m.judge_errors),
            f"${m.judge_cost:,.4f}",
        )
    quality.caption = "avg: mean score 1-5; pass: scored at or above thr; errors: parse + judge errors; cost: judge's"
    if not rep.metrics:
        quality.caption = (
            "no evaluations in this window (run `llmsight evaluate`, or set LLMSIGHT_JUDGE_MODEL for serve)"
        )
    console.print(quality)
    if rep.worst:
        samples = Table(title="Worst samples (llmsight trace ID shows one)", box=box.SIMPLE_HEAD)
        samples.add_column("metric", no_wrap=True)
        samples.add_column("score", justify="right", no_wrap=True)
        samples.add_column("trace", no_wrap=True)
        samples.add_column("judge's reason", overflow="fold", ratio=1)
        for s in rep.worst:
            reason = s.reason[:160] + ("…" if len(s.reason) > 160 else "")
            samples.add_row(s.metric, str(s.score), s.trace_id[:12], reason)
        console.print(samples)
    calls = rep.calls
    ops = Table(title=f"Calls, last {last}")
    for col in ("requests", "error rate", "p50 ms", "p95 ms", "input tokens", "output tokens", "cost"):
        ops.add_column(col, justify="right")
    if calls:
        ops.add_row(
            f"{calls.requests:,}",
            _pct(calls.error_rate),
            _fmt(calls.p50_ms, ".0f"),
            _fmt(calls.p95_ms, ".0f"),
            f"{calls.input_tokens:,}",
            f"{calls.output_tokens:,}",
            f"${calls.cost:,.4f}",
        )
    console.print(ops)
