"""``llmsight evaluate``: score stored calls with a judge (``llmsight report``, re-exported here, summarises).

Registered by ``llmsight.cli.main`` when this module is present. User mistakes (no judge, bad
metric name, store owned by a running serve, rejected key) end as one red line, exit 2. A run that
asked the judge and got no judgement back (the judge is down) ends as one red line, exit 1.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmsight.cli.common import (
    JudgeBaseUrlOption,
    ModelOption,
    ServiceOption,
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
from llmsight.cli.report import report, schema_hint, window_seconds

__all__ = ["evaluate", "report"]  # report lives in llmsight.cli.report; main registers both from here


def _config(settings: Any, **overrides: Any) -> Any:
    from llmsight.evaluator.config import EvaluatorConfig, EvaluatorConfigError
    from llmsight.evaluator.metrics import UnknownMetricError, parse_metrics
    from llmsight.evaluator.rubric import RubricError
    from llmsight.evaluator.worker import load_rubrics

    try:
        cfg = EvaluatorConfig.from_settings(settings, **overrides)
        # fail now, not mid-run
        load_rubrics(parse_metrics(list(cfg.metrics), cfg.rubrics_dir or None), cfg.rubrics_dir)
    except (EvaluatorConfigError, UnknownMetricError, RubricError) as exc:
        raise fail(str(exc)) from None
    return cfg


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
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Judge calls from this far back: 30m, 1h, 7d, P7D." + env_default("LLMSIGHT_EVALUATOR_SINCE", "24h"),
            show_default=False,
        ),
    ] = None,
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
            help="Comma-separated: groundedness, relevance, coherence, fluency, similarity; the safety metrics"
            " harmful_content, prompt_injection; or a metric of your own from --rubrics-dir."
            + env_default("LLMSIGHT_EVALUATOR_METRICS", "the first five"),
            show_default=False,
        ),
    ] = None,
    service: ServiceOption = "",
    model: ModelOption = "",
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
    judge_base_url: JudgeBaseUrlOption = None,
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
            help="Directory of <metric>.md rubrics (front matter: metric, version, inputs, scale) adding metrics"
            " by name or overriding the built-in ones." + default_note("built-in rubrics"),
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

    with user_errors(), schema_hint():
        settings = make_settings(
            clickhouse_url=clickhouse_url,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
            sample_rate=sample_rate,
        )
        cfg = _config(
            settings,
            since_s=window_seconds(since) if since else None,
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
            if summary.judge_failed:
                # An outage must not pass for a quiet run: --once exits 1 (2 is for usage errors);
                # a repeating evaluate says so and tries again next pass, as serve does.
                stop = fail(_judge_failed_message(summary, cfg), code=1)  # prints the red line
                if once:
                    raise stop
            if once:
                return
            try:
                time.sleep(settings.evaluate_interval_s)
            except KeyboardInterrupt:
                return


def _judge_failed_message(summary: Any, cfg: Any) -> str:
    """What failed (the judge's last error) and which settings to check, for a run that judged nothing."""
    where = cfg.judge_base_url or "https://api.openai.com/v1"
    return escape(
        f"no call could be judged: {summary.judge_errors} of {summary.planned} judge calls failed"
        f"{f' ({summary.stopped})' if summary.stopped else ''}; last error: {summary.last_error}. "
        f"Check LLMSIGHT_JUDGE_BASE_URL ({where}), LLMSIGHT_JUDGE_MODEL ({cfg.judge_model}) "
        "and LLMSIGHT_JUDGE_API_KEY."
    )


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
