"""``llmsight report``: quality scores beside traffic, errors, latency and cost for one window.

Registered with ``llmsight evaluate`` (``llmsight.cli.evaluate`` re-exports it), since both need the evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from llmsight.cli.common import (
    EnvironmentOption,
    ModelOption,
    ServiceOption,
    StoreOption,
    console,
    fail,
    make_settings,
    query_client,
    user_errors,
)

if TYPE_CHECKING:
    from llmsight.evaluator.report import Report


@contextmanager
def schema_hint() -> Iterator[None]:
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


def window_seconds(text: str) -> float:
    """'30m', '24h', '7d' -> seconds, or one red line saying how to write a duration."""
    from llmsight.evaluator.config import EvaluatorConfigError, parse_duration

    try:
        return parse_duration(text)
    except EvaluatorConfigError as exc:
        raise fail(str(exc)) from None


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _monitor_table(rep: Report, last: str) -> Table:
    """Monitor runs in the window beside the averages: a violation is a run whose value missed its target."""
    table = Table(title=f"Monitors, last {last}", box=box.SIMPLE_HEAD)
    for col in ("monitor", "metric", "statistic", "target", "last", "violations", "of", "rate"):
        table.add_column(col, justify="left" if col in ("monitor", "metric", "statistic") else "right", no_wrap=True)
    for m in rep.monitors:
        rate_like = m.statistic in ("pass_rate", "error_rate", "judge_errors", "coverage")
        fmt = _pct if rate_like else (lambda v: _fmt(v, ",.4g"))
        table.add_row(
            m.monitor,
            m.metric if m.signal in ("quality", "tokens") else f"{m.signal}",
            m.statistic,
            fmt(m.target),
            fmt(m.last_value),
            str(m.violations),
            str(m.possible_violations),
            _pct(m.violation_rate),
        )
    table.caption = (
        "violations: runs whose value missed the target; of: runs with a verdict (insufficient data is neither); "
        "last: the latest run's value"
    )
    return table


def _feedback_table(rep: Report, last: str) -> Table:
    fb = rep.feedback
    table = Table(title=f"People vs the judge, last {last}", box=box.SIMPLE_HEAD)
    for col in ("metric", "both fail", "judge only", "people only", "both pass", "precision", "recall"):
        table.add_column(col, justify="left" if col == "metric" else "right", no_wrap=True)
    for a in fb.agreement:
        table.add_row(
            a.metric, str(a.judge_fail_person_fail), str(a.judge_fail_person_pass), str(a.judge_pass_person_fail),
            str(a.judge_pass_person_pass), _pct(a.precision), _pct(a.recall),
        )  # fmt: skip
    negative = fb.negative_calls / fb.rated_calls if fb.rated_calls else None
    table.caption = (
        f"{fb.ratings} ratings on {fb.rated_calls} calls, {_pct(negative)} of them negative; on calls with both: "
        "precision = the judge's failing answers people failed too, recall = people's failing answers the judge caught"
    )
    return table


def report(
    last: Annotated[str, typer.Option("--last", help="Window to report on: 1h, 24h, 7d.")] = "24h",
    service: ServiceOption = "",
    model: ModelOption = "",
    environment: EnvironmentOption = "",
    worst: Annotated[int, typer.Option("--worst", min=0, help="Worst samples shown per metric.")] = 3,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    clickhouse_url: StoreOption = None,
) -> None:
    """Quality scores beside traffic, errors, latency and cost for one window.

    Example: [bold]llmsight report --last 7d --service checkout[/]

    Experiments: [bold]llmsight report --last 1h --environment llmsight-eval[/]
    """
    from llmsight.evaluator.report import build_report

    if output not in ("table", "json"):
        raise fail("--format must be table or json")
    window = window_seconds(last)
    with user_errors(), schema_hint():
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
            environment=environment,
        )
    if output == "json":
        console.print_json(json.dumps(rep.as_dict(), default=str))
        return
    # One judge (the usual case) goes in the title, so the table fits 80 columns.
    judges = sorted({m.judge_model for m in rep.metrics})
    one_judge = len(judges) <= 1
    title = f"Quality, last {last}" + (f", judge {judges[0]}" if one_judge and judges else "")
    quality = Table(title=title, box=box.SIMPLE_HEAD)
    columns = ["metric", *([] if one_judge else ["judge"]), "avg", "pass", "thr", "failing", "scored", "n/a",
               "errors", "cost"]  # fmt: skip
    for col in columns:
        quality.add_column(col, justify="left" if col in ("metric", "judge") else "right", no_wrap=True)
    for m in rep.metrics:
        quality.add_row(
            m.metric,
            *([] if one_judge else [m.judge_model]),
            "-" if m.binary else _fmt(m.avg_score),
            _pct(m.pass_rate),
            "pass/fail" if m.binary else f"{m.threshold:g}",
            str(m.failing_answers),
            str(m.scored),
            str(m.not_applicable),
            str(m.parse_errors + m.judge_errors),
            f"${m.judge_cost:,.4f}",
        )
    quality.caption = (
        "avg: mean score 1-5; pass: scored at or above thr (pass/fail metrics: judged pass); failing: answers "
        "below thr; errors: parse + judge errors; cost: judge's"
    )
    categories = [f"{m.metric}: " + ", ".join(f"{c} {n}" for c, n in m.categories.items()) for m in rep.metrics
                  if m.categories]  # fmt: skip
    if categories:
        quality.caption += "\nfailing by category: " + "; ".join(categories)
    if rep.screen_hits:
        hits = ", ".join(f"{hit} {n}" for hit, n in rep.screen_hits.items())
        quality.caption += f"\npre-screen (every call; flagged calls are judged for safety): {hits}"
    if not rep.metrics:
        quality.caption = (
            "no evaluations in this window (run `llmsight evaluate`, or set LLMSIGHT_JUDGE_MODEL for serve)"
        )
    console.print(quality)
    if rep.feedback.ratings:
        console.print(_feedback_table(rep, last))
    if rep.monitors:
        console.print(_monitor_table(rep, last))
    if rep.worst:
        binary = {m.metric for m in rep.metrics if m.binary}
        samples = Table(title="Worst samples (llmsight trace ID shows one)", box=box.SIMPLE_HEAD)
        samples.add_column("metric", no_wrap=True)
        samples.add_column("score", justify="right", no_wrap=True)
        samples.add_column("trace", no_wrap=True)
        samples.add_column("judge's reason", overflow="fold", ratio=1)
        for s in rep.worst:
            reason = s.reason[:160] + ("…" if len(s.reason) > 160 else "")
            score = ("fail" + (f" ({s.category})" if s.category else "")) if s.metric in binary else str(s.score)
            samples.add_row(s.metric, score, s.trace_id[:12], reason)
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
