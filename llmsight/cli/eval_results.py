"""``llmsight eval compare``, ``gate`` and ``runs``: read stored runs, compare them, gate a release on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmsight.cli.common import StoreOption, console, default_note, err_console, fail, make_settings
from llmsight.cli.eval_common import ConfigOption, MonitorOption, errors, settings_database


def _load(settings: Any, *names: str) -> list[Any]:
    from llmsight.cli.common import query_client
    from llmsight.experiments.results import load_run

    client = query_client(settings)
    try:
        return [load_run(client, settings_database(settings), n) for n in names]
    finally:
        client.close()


def _comparison_table(comparison: Any) -> Table:
    a, b = escape(comparison.a), escape(comparison.b)  # names and ids are data, never rich markup
    table = Table(title=f"{b} against {a} (paired rows, 95% bootstrap interval)")
    for col in ("metric", "pairs", f"avg {a}", f"avg {b}", "change \\[95% CI]", f"pass {a}", f"pass {b}", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    style = {"regression": "bold red", "improvement": "green", "no change": "", "too few rows": "yellow"}
    for m in comparison.metrics:
        ci = f" [{m.ci[0]:+.2f}, {m.ci[1]:+.2f}]" if m.ci else ""

        def fmt(v: float | None, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        table.add_row(escape(m.metric), str(m.pairs), fmt(m.a.mean, ".2f"), fmt(m.b.mean, ".2f"),
                      fmt(m.diff, "+.2f") + ci, fmt(m.a.pass_rate, ".0%"), fmt(m.b.pass_rate, ".0%"),
                      f"[{style[m.verdict]}]{m.verdict}[/]" if style[m.verdict] else m.verdict)  # fmt: skip
    return table


def _regressed_table(comparison: Any) -> Table:
    table = Table(title="Rows that regressed most")
    for col in ("row", "question", "scores (A → B)", f"trace in {escape(comparison.b)}"):
        table.add_column(col)
    for rc in comparison.regressed_rows:
        moved = escape(", ".join(f"{m} {x}→{y}" for m, (x, y) in rc.metrics.items()))
        table.add_row(escape(rc.row_id), escape(rc.question[:60]), moved, escape(rc.trace_b))
    return table


def _warn(a: Any, b: Any, comparison: Any) -> list[str]:
    """Print why a comparison may mislead; returns the judge differences (which make it meaningless)."""
    from llmsight.experiments.compare import judged_differently

    if not comparison.same_dataset:
        err_console.print(
            "[yellow]the runs were made from different datasets; only rows with the same id are paired[/]"
        )
    reasons = judged_differently(a, b)
    for reason in reasons:
        err_console.print(f"[yellow]not comparable: {escape(reason)}[/]")
    return reasons


JsonOption = Annotated[
    Path | None,
    typer.Option("--json", help="Write the result as JSON here." + default_note("none"), show_default=False),
]


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

    with errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        a, b = _load(settings, run_a, run_b)
        comparison = compare_runs(a, b, rows)
    _warn(a, b, comparison)
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
            help="METRIC=RATE: least pass rate (0-1); repeatable; overrides the monitor file's."
            + default_note("the monitor file's pass_rate_min"),
            show_default=False,
        ),
    ] = None,  # fmt: skip
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit", help="Write JUnit XML here (rows as tests)." + default_note("none"), show_default=False
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--markdown",
            help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)." + default_note("none"),
            show_default=False,
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

    with errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        rates = parse_fail_under(fail_under or [])
        targets = monitor_targets(load_for_settings(settings, config), monitor)
        runs = _load(settings, run_name, *([baseline] if baseline else []))
        comparison = compare_runs(runs[1], runs[0]) if baseline else None
        if comparison is not None and _warn(runs[1], runs[0], comparison):
            raise fail(
                f"run {escape(run_name)} cannot be gated against {escape(baseline)}: they were judged differently"
            )
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
    """List experiment runs, newest first, with each metric's pass rate (the figures `eval gate` checks).

    Example: [bold]llmsight eval runs --limit 5[/]
    """
    import datetime as dt

    from llmsight.cli.common import query_client
    from llmsight.experiments.results import recent_runs
    from llmsight.queries import ask

    with errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        client = query_client(settings)
        try:
            found = recent_runs(client, settings_database(settings), limit)
            scores: dict[str, list[str]] = {}
            if found:
                start = min(r["started"] for r in found).replace(tzinfo=dt.timezone.utc)
                end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
                for row in ask(client, settings_database(settings), "experiment_summary", start, end):
                    rate = "-" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}"
                    scores.setdefault(row["run"], []).append(f"{row['metric']} {rate}")
        finally:
            client.close()
    table = Table(title="Experiment runs")
    for col in ("name", "started (UTC)", "rows", "dataset", "target", "judge", "commit", "pass rates"):
        table.add_column(col)
    for r in found:
        table.add_row(escape(r["name"]), f"{r['started']:%Y-%m-%d %H:%M}", str(r["dataset_rows"]),
                      escape(f"{Path(r['dataset_path']).name} ({r['dataset_hash'][:8]})"),
                      escape(r["target"] or "answers as given"), escape(r["judge_model"]), escape(r["git_commit"][:12]),
                      escape(", ".join(scores.get(r["name"], []))))  # fmt: skip
    console.print(table)
