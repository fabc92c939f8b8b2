"""``llmsight eval run``: flags into a run spec (dataset, target, metrics, judge), progress, and the run's table."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmsight.cli.common import JudgeBaseUrlOption, StoreOption, console, default_note, err_console, fail, make_settings
from llmsight.cli.eval_common import ConfigOption, MonitorOption, errors, quality

DEMO_JUDGE = "demo-judge"


@contextmanager
def _judge(settings: Any, judge_model: str | None, judge_base_url: str | None) -> Iterator[Any]:
    """The judge; ``demo-judge`` without an endpoint is the built-in heuristic judge, served in this process."""
    from llmsight.evaluator.config import EvaluatorConfig
    from llmsight.evaluator.worker import make_judge

    cfg = EvaluatorConfig.from_settings(settings)
    model = judge_model or cfg.judge_model
    base_url = judge_base_url or cfg.judge_base_url
    if model == DEMO_JUDGE and not base_url:
        from llmsight.demo.model import DemoModelServer

        with DemoModelServer() as server:
            yield make_judge(EvaluatorConfig(judge_model=model, judge_base_url=server.base_url, judge_api_key="demo"))
        return
    from dataclasses import replace

    yield make_judge(replace(cfg, judge_model=model or "", judge_base_url=base_url or ""))


def run(
    dataset: Annotated[
        Path, typer.Argument(help="JSONL or CSV: question, and optionally id, context, ground_truth, answer.")
    ],
    name: Annotated[str, typer.Option("--name", help="The run's name; the same name resumes it.")],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="module:function called on each row (it returns the answer); without it the dataset's answer "
            "column is judged." + default_note("none"),
            show_default=False,
        ),
    ] = "",
    mapping: Annotated[
        str,
        typer.Option(
            "--map", help="Your column names: question=input,ground_truth=expected,..." + default_note("none")
        ),
    ] = "",
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics",
            help="Comma-separated metrics." + default_note("the monitor file's quality metrics"),
            show_default=False,
        ),
    ] = "",
    judge_model: Annotated[
        str | None,
        typer.Option(
            "--judge-model",
            envvar="LLMSIGHT_JUDGE_MODEL",
            help=f"Judge model; {DEMO_JUDGE} is the built-in one (no key)." + default_note("none"),
            show_default=False,
        ),
    ] = None,  # fmt: skip
    judge_base_url: JudgeBaseUrlOption = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Rows (and judge calls) at once.")
    ] = 4,
    service: Annotated[str, typer.Option("--service", help="service.name of the run's traces.")] = "llmsight-eval",
    collector: Annotated[
        str | None,
        typer.Option(
            "--collector",
            help="Send to this collector's OTLP/HTTP URL."
            + default_note("the running serve, else one in this process"),
            show_default=False,
        ),
    ] = None,  # fmt: skip
    config: ConfigOption = None,
    monitor: MonitorOption = "",
    clickhouse_url: StoreOption = None,
) -> None:
    """Run the target on every row of DATASET, judge the answers, store it all as run NAME.

    A rerun of the same command finishes an interrupted or partly failed run: it runs only rows without an
    answer and judges only what has no score. Every row gets a trace (its LLM calls, retrievals, context).

    Example: [bold]llmsight eval run evals/test.jsonl --target myapp.rag:answer --name pr-42[/]

    The demo, no key: [bold]llmsight eval run examples/evals/lumen-notes.jsonl --name main
    --target llmsight.demo.eval_target:answer --judge-model demo-judge[/]
    """
    from llmsight.evaluator.judge import JudgeFatalError
    from llmsight.evaluator.metrics import parse_metrics
    from llmsight.evaluator.pool import Aborted
    from llmsight.evaluator.prompt import template_version
    from llmsight.evaluator.worker import _with_thresholds, load_rubrics
    from llmsight.experiments.connection import connect
    from llmsight.experiments.dataset import DatasetError, load_dataset
    from llmsight.experiments.runner import RunSpec, git_commit, run_experiment

    with errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        data = load_dataset(dataset, mapping)
        if not target:
            missing = next((r for r in data.rows if not r.answer.strip()), None)
            if missing is not None:
                raise DatasetError(
                    f"{dataset}, row {missing.id!r}, column 'answer': empty; without --target every row needs an answer"
                )
        signal = quality(settings, config, monitor)
        rubrics_dir = signal.rubrics_dir if signal is not None else ""
        names = metrics or (",".join(signal.metrics) if signal is not None else "")
        chosen = parse_metrics(names or None, rubrics_dir or None)
        if signal is not None:
            chosen = _with_thresholds(chosen, signal.thresholds())
        rubrics = load_rubrics(chosen, rubrics_dir)
        versions = {m.name: rubrics[m.name].prompt_version(template_version(m)) for m in chosen}
        if target:  # a typo in --target or a parameter no column fills: before anything starts or is stored
            from llmsight.experiments.target import check_arguments, load_target

            check_arguments(load_target(target), data.rows)
        aborted = False
        with _judge(settings, judge_model, judge_base_url) as judge, connect(settings, collector) as conn:
            spec = RunSpec(name, data, target, chosen, rubrics, versions, judge, service, concurrency, git_commit())
            rows = f"{len(data)} row{'s' * (len(data) != 1)}"
            err_console.print(f"[dim]run {escape(name)}: {rows}, judge {judge.model}, via {conn.via}[/]")
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err_console, transient=True) as bar:  # fmt: skip
                tasks: dict[str, Any] = {}

                def progress(phase: str, done: int, total: int) -> None:
                    if phase == "interrupted":
                        err_console.print("[yellow]interrupted: finishing what is in flight; Ctrl-C again stops now[/]")
                        return
                    if phase not in tasks:
                        tasks[phase] = bar.add_task(phase, total=total)
                    bar.update(tasks[phase], completed=done, total=total)

                try:
                    outcome = run_experiment(spec, conn, progress)
                except Aborted:
                    aborted = True
                except KeyboardInterrupt:
                    raise fail(
                        "interrupted; what was done is stored. Run the same command again to finish the run.", 130
                    ) from None
                except JudgeFatalError as exc:  # a rejected key or unknown model: what was judged is stored
                    raise fail(
                        escape(f"{exc}; what was done is stored, rerun to finish once the judge works")
                    ) from None
            if not aborted:
                from llmsight.experiments.results import load_run

                results = load_run(conn.client, conn.database, name)
    if aborted:  # after the collector stopped (what it took is stored); threads in flight may never return
        err_console.print("[bold red]error:[/] aborted; rows and judge calls in flight are lost, the rest is stored")
        sys.stdout.flush()
        os._exit(130)
    _print_run(outcome, results)
    tally = outcome.judge
    if tally.stopped:
        raise fail(escape(f"the judge stopped the run: {tally.stopped}; last error: {tally.last_error}"), 1)
    if (tally.judge_errors or tally.parse_errors) and not tally.judged_now:  # asked, and no score came back
        failed = f"{tally.judge_errors} judge errors, {tally.parse_errors} parse errors"
        raise fail(escape(f"no row could be judged ({failed}); last error: {tally.last_error}"), 1)


def _print_run(outcome: Any, results: Any) -> None:
    from llmsight.experiments.compare import summarize

    table = Table(title=f"Run {escape(results.name)}")
    for col, justify in (("metric", "left"), ("rows scored", "right"), ("average", "right"), ("pass rate", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for metric in results.metrics:
        s = summarize(results, metric)
        table.add_row(escape(metric), str(s.n), "-" if s.mean is None else f"{s.mean:.2f}",
                      "-" if s.pass_rate is None else f"{s.pass_rate:.0%} ({s.passed}/{s.n})")  # fmt: skip
    console.print(table)
    tally = outcome.judge
    console.print(
        f"rows: {outcome.answered_now} run now, {outcome.answered_before} from before, "
        f"{len(outcome.target_errors)} failed in the target; judgements: {tally.judged_now} now, "
        f"{tally.judged_before} from before, {tally.not_applicable} not applicable, "
        f"{tally.parse_errors} parse errors, {tally.judge_errors} judge errors; judge cost ${tally.cost:.4f}; "
        f"{outcome.elapsed_s:.1f} s"
    )
    for row_id, error in outcome.target_errors[:5]:
        err_console.print(f"[yellow]row {escape(row_id)}: the target failed: {escape(error[:200])}[/]")
    console.print(
        f"[dim]next: llmsight eval gate {escape(results.name)} \\[--baseline OTHER_RUN] \\[--fail-under METRIC=RATE][/]"
    )
