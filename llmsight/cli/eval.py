"""``llmsight eval``: run an app on a dataset and judge it (``run``), compare two runs, gate a release.

Registered by ``llmsight.cli.main`` as a command group. The work is in ``llmsight.experiments``;
this module turns flags into a run spec, shows progress and tables, and maps outcomes to exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmsight.cli.common import StoreOption, console, default_note, err_console, fail, make_settings, user_errors

app = typer.Typer(
    help="Evaluate before release: run an app on a dataset and judge every row (run), compare two runs "
    "(compare), fail a CI job on missed targets or regressions (gate). Guide: docs/experiments.md.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DEMO_JUDGE = "demo-judge"
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Monitor file whose quality targets, thresholds and rubrics apply."
        + default_note("LLMSIGHT_CONFIG, else ./llmsight.yaml, else the default monitor"),
        show_default=False,
    ),
]
MonitorOption = Annotated[
    str, typer.Option("--monitor", help="Which monitor's quality signal." + default_note("the first that has one"))
]


@contextmanager
def _errors() -> Iterator[None]:
    """The experiments' own errors a user can fix: one red line, exit 2."""
    from llmsight.evaluator.config import EvaluatorConfigError
    from llmsight.evaluator.metrics import UnknownMetricError
    from llmsight.evaluator.rubric import RubricError
    from llmsight.experiments.dataset import DatasetError
    from llmsight.experiments.gate import GateError
    from llmsight.experiments.results import UnknownRunError
    from llmsight.experiments.runner import ExperimentError
    from llmsight.experiments.target import TargetError
    from llmsight.monitors.loader import MonitorFileError

    with user_errors():
        try:
            yield
        except (DatasetError, TargetError, ExperimentError, UnknownRunError, GateError, EvaluatorConfigError,
                UnknownMetricError, RubricError, MonitorFileError) as exc:  # fmt: skip
            raise fail(escape(str(exc))) from None


def _quality(settings: Any, config: str | None, monitor: str) -> Any:
    """The monitor file's quality signal (metrics, thresholds, rubrics), or None."""
    from llmsight.monitors.loader import load_for_settings

    loaded = load_for_settings(settings, config)
    for m in loaded.file.monitors:
        if (not monitor or m.name == monitor) and m.signals.quality is not None:
            return m.signals.quality
    return None


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
    judge_base_url: Annotated[
        str | None,
        typer.Option(
            "--judge-base-url", envvar="LLMSIGHT_JUDGE_BASE_URL", help="OpenAI-compatible endpoint.", show_default=False
        ),
    ] = None,  # fmt: skip
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
    from llmsight.evaluator.metrics import parse_metrics
    from llmsight.evaluator.prompt import template_version
    from llmsight.evaluator.worker import _with_thresholds, load_rubrics
    from llmsight.experiments.connection import connect
    from llmsight.experiments.dataset import DatasetError, load_dataset
    from llmsight.experiments.runner import RunSpec, git_commit, run_experiment

    with _errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        data = load_dataset(dataset, mapping)
        if not target:
            missing = next((r for r in data.rows if not r.answer.strip()), None)
            if missing is not None:
                raise DatasetError(
                    f"{dataset}, row {missing.id!r}, column 'answer': empty; without --target every row needs an answer"
                )
        quality = _quality(settings, config, monitor)
        rubrics_dir = quality.rubrics_dir if quality is not None else ""
        names = metrics or (",".join(quality.metrics) if quality is not None else "")
        chosen = parse_metrics(names or None, rubrics_dir or None)
        if quality is not None:
            chosen = _with_thresholds(chosen, quality.thresholds())
        rubrics = load_rubrics(chosen, rubrics_dir)
        versions = {m.name: rubrics[m.name].prompt_version(template_version(m)) for m in chosen}
        with _judge(settings, judge_model, judge_base_url) as judge, connect(settings, collector) as conn:
            spec = RunSpec(name, data, target, chosen, rubrics, versions, judge, service, concurrency, git_commit())
            err_console.print(f"[dim]run {escape(name)}: {len(data)} rows, judge {judge.model}, via {conn.via}[/]")
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err_console, transient=True) as bar:  # fmt: skip
                tasks: dict[str, Any] = {}

                def progress(phase: str, done: int, total: int) -> None:
                    if phase not in tasks:
                        tasks[phase] = bar.add_task(phase, total=total)
                    bar.update(tasks[phase], completed=done, total=total)

                try:
                    outcome = run_experiment(spec, conn, progress)
                except KeyboardInterrupt:
                    raise fail(
                        "interrupted; what was done is stored. Run the same command again to finish the run.", 130
                    ) from None
            from llmsight.experiments.results import load_run

            results = load_run(conn.client, conn.database, name)
    _print_run(outcome, results)
    if outcome.judge.stopped:
        raise fail(escape(f"the judge stopped the run: {outcome.judge.stopped}; rerun to finish"), 1)


def _print_run(outcome: Any, results: Any) -> None:
    from llmsight.experiments.compare import summarize

    table = Table(title=f"Run {results.name}")
    for col, justify in (("metric", "left"), ("rows scored", "right"), ("average", "right"), ("pass rate", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for metric in results.metrics:
        s = summarize(results, metric)
        table.add_row(metric, str(s.n), "-" if s.mean is None else f"{s.mean:.2f}",
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
    console.print(f"[dim]next: llmsight eval gate {results.name} [--baseline OTHER_RUN] [--fail-under METRIC=RATE][/]")


def _load(settings: Any, *names: str) -> list[Any]:
    from llmsight.cli.common import query_client
    from llmsight.experiments.results import load_run

    client = query_client(settings)
    try:
        return [load_run(client, settings_database(settings), n) for n in names]
    finally:
        client.close()


def settings_database(settings: Any) -> str:
    from llmsight.store.url import parse_store_url

    return parse_store_url(settings.clickhouse_url).database


def _comparison_table(comparison: Any) -> Table:
    table = Table(title=f"{comparison.b} against {comparison.a} (paired rows, 95% bootstrap interval)")
    for col in ("metric", "pairs", f"avg {comparison.a}", f"avg {comparison.b}", "change [95% CI]",
                f"pass {comparison.a}", f"pass {comparison.b}", "verdict"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    style = {"regression": "bold red", "improvement": "green", "no change": "", "too few rows": "yellow"}
    for m in comparison.metrics:
        ci = f" [{m.ci[0]:+.2f}, {m.ci[1]:+.2f}]" if m.ci else ""

        def fmt(v: float | None, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        table.add_row(m.metric, str(m.pairs), fmt(m.a.mean, ".2f"), fmt(m.b.mean, ".2f"), fmt(m.diff, "+.2f") + ci,
                      fmt(m.a.pass_rate, ".0%"), fmt(m.b.pass_rate, ".0%"),
                      f"[{style[m.verdict]}]{m.verdict}[/]" if style[m.verdict] else m.verdict)  # fmt: skip
    return table


def _regressed_table(comparison: Any) -> Table:
    table = Table(title="Rows that regressed most")
    for col in ("row", "question", "scores (A → B)", f"trace in {comparison.b}"):
        table.add_column(col)
    for rc in comparison.regressed_rows:
        moved = ", ".join(f"{m} {x}→{y}" for m, (x, y) in rc.metrics.items())
        table.add_row(rc.row_id, escape(rc.question[:60]), moved, rc.trace_b)
    return table


JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the result as JSON here.", show_default=False)]


def compare(
    run_a: Annotated[str, typer.Argument(help="The baseline run.")],
    run_b: Annotated[str, typer.Argument(help="The run compared with it.")],
    rows: Annotated[int, typer.Option("--rows", min=0, help="How many of the most regressed rows to list.")] = 5,
    json_out: JsonOption = None,
    clickhouse_url: StoreOption = None,
) -> None:
    """Per metric: both runs' averages and pass rates, the change with a paired bootstrap 95% interval, the verdict.

    A change whose interval holds 0 is [bold]no change[/]. Then the rows whose scores fell most, with their traces.

    Example: [bold]llmsight eval compare main pr-42[/]
    """
    from dataclasses import asdict

    from llmsight.experiments.compare import compare as compare_runs

    with _errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        a, b = _load(settings, run_a, run_b)
        comparison = compare_runs(a, b, rows)
    if not comparison.same_dataset:
        err_console.print(
            "[yellow]the runs were made from different datasets; only rows with the same id are paired[/]"
        )
    console.print(_comparison_table(comparison))
    if comparison.regressed_rows:
        console.print(_regressed_table(comparison))
    if json_out:
        json_out.write_text(json.dumps(asdict(comparison), indent=2, default=str) + "\n")


def gate(
    run_name: Annotated[str, typer.Argument(metavar="RUN", help="The run to check.")],
    baseline: Annotated[
        str,
        typer.Option("--baseline", help="Fail on a significant regression against this run." + default_note("none")),
    ] = "",
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            help="METRIC=RATE: least pass rate (0-1); repeatable; overrides the monitor file's.",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (rows as tests).", show_default=False)
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown", help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).", show_default=False
        ),
    ] = None,
    json_out: JsonOption = None,
    config: ConfigOption = None,
    monitor: MonitorOption = "",
    clickhouse_url: StoreOption = None,
) -> None:
    """Check RUN against its targets (the monitor file's, or --fail-under) and, with --baseline, for regressions.

    Exit codes: 0 passed; 1 a target missed or a significant regression; 3 the run is incomplete (rerun
    `llmsight eval run` to finish it); 2 a usage error.

    Example: [bold]llmsight eval gate pr-42 --baseline main --fail-under groundedness=0.8 --junit eval.xml[/]
    """
    from llmsight.experiments import reports
    from llmsight.experiments.compare import compare as compare_runs
    from llmsight.experiments.gate import evaluate_gate, monitor_targets, parse_fail_under
    from llmsight.monitors.loader import load_for_settings

    with _errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        rates = parse_fail_under(fail_under or [])
        targets = monitor_targets(load_for_settings(settings, config), monitor)
        runs = _load(settings, run_name, *([baseline] if baseline else []))
        comparison = compare_runs(runs[1], runs[0]) if baseline else None
        result = evaluate_gate(runs[0], targets, rates, comparison)
    writers = ((junit, reports.to_junit), (markdown, reports.to_markdown),
               (json_out, lambda r: json.dumps(reports.to_json(r), indent=2, default=str) + "\n"))  # fmt: skip
    for path, write in writers:
        if path is not None:
            text = write(result)
            with open(path, "a" if str(path) == _step_summary() else "w", encoding="utf-8") as handle:
                handle.write(text)
    if comparison is not None:
        console.print(_comparison_table(comparison))
    for c in result.checks:
        mark = "[green]ok[/]" if c.ok else ("[yellow]no data[/]" if c.value is None else "[bold red]FAILED[/]")
        console.print(f"{mark}  {escape(c.message)}")
    if result.missing or result.unanswered:
        console.print(
            f"[yellow]incomplete: {len(result.missing)} (row, metric) pairs without a judgement, "
            f"{result.unanswered} rows not run; rerun `llmsight eval run` with the same --name[/]"
        )
    style = {"passed": "bold green", "failed": "bold red", "incomplete": "bold yellow"}[result.verdict]
    console.print(f"[{style}]gate {result.verdict}[/] for run {escape(run_name)}")
    raise typer.Exit(result.exit_code)


def _step_summary() -> str:
    import os

    return os.environ.get("GITHUB_STEP_SUMMARY", "")


def runs(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="How many, newest first.")] = 20,
    clickhouse_url: StoreOption = None,
) -> None:
    """List experiment runs, newest first.

    Example: [bold]llmsight eval runs --limit 5[/]
    """
    from llmsight.cli.common import query_client
    from llmsight.experiments.results import recent_runs

    with _errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        client = query_client(settings)
        try:
            found = recent_runs(client, settings_database(settings), limit)
        finally:
            client.close()
    table = Table(title="Experiment runs")
    for col in ("name", "started (UTC)", "rows", "dataset", "target", "judge", "commit"):
        table.add_column(col)
    for r in found:
        table.add_row(escape(r["name"]), f"{r['started']:%Y-%m-%d %H:%M}", str(r["dataset_rows"]),
                      escape(f"{Path(r['dataset_path']).name} ({r['dataset_hash'][:8]})"),
                      escape(r["target"] or "answers as given"), r["judge_model"], r["git_commit"][:12])  # fmt: skip
    console.print(table)


app.command("run")(run)
app.command("compare")(compare)
app.command("gate")(gate)
app.command("runs")(runs)
