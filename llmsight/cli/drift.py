"""`llmsight drift`: the current window's traffic and quality against a baseline window."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from llmsight.cli.common import (
    ModelOption,
    ServiceOption,
    StoreOption,
    console,
    fail,
    make_settings,
    query_client,
    user_errors,
)
from llmsight.cli.report import schema_hint, window_seconds

VERDICT_STYLE = {"shifted": "bold red", "moderate shift": "yellow", "stable": "green", "insufficient data": "dim"}


def _date(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"cannot read date {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def windows(baseline: str, current: str, now: dt.datetime) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
    """``--current 1d`` is the last day; ``--baseline 7d`` the 7 days before it, or ``START..END`` dates."""
    current_window = (now - dt.timedelta(seconds=window_seconds(current)), now)
    if ".." in baseline:
        start, _, end = baseline.partition("..")
        base = (_date(start), _date(end))
        if not base[0] < base[1] <= current_window[0]:
            raise fail(f"baseline {baseline} must be a range that ends before the current window starts")
    else:
        base = (current_window[0] - dt.timedelta(seconds=window_seconds(baseline)), current_window[0])
    return base, current_window


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def drift(
    baseline: Annotated[
        str, typer.Option("--baseline", help="The previous N before the current window (7d), or START..END dates.")
    ] = "7d",
    current: Annotated[str, typer.Option("--current", help="The window compared: the last 1h, 1d, 7d.")] = "1d",
    service: ServiceOption = "",
    model: ModelOption = "",
    min_samples: Annotated[
        int, typer.Option("--min-samples", min=1, help="Fewer in either window is insufficient data.")
    ] = 30,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    clickhouse_url: StoreOption = None,
) -> None:
    """Compare the current window with a baseline: tokens, answer length, latency, model and finish-reason
    mix, error rate and each metric's scores, with a population stability index, a two-sample test
    (Kolmogorov-Smirnov, or chi-squared for categories) and a verdict per item.

    Example: [bold]llmsight drift --baseline 7d --current 1d --service checkout[/]

    Against a fixed week: [bold]llmsight drift --baseline 2026-11-01..2026-11-08 --current 1d[/]
    """
    from llmsight.evaluator.drift import compare
    from llmsight.queries import Filters
    from llmsight.store.url import parse_store_url

    if output not in ("table", "json"):
        raise fail("--format must be table or json")
    base, cur = windows(baseline, current, dt.datetime.now(dt.timezone.utc))
    with user_errors(), schema_hint():
        settings = make_settings(clickhouse_url=clickhouse_url)
        client = query_client(settings)
        database = parse_store_url(settings.clickhouse_url).database
        items = compare(client, database, base, cur, Filters(service=service, model=model), min_samples)
    if output == "json":
        console.print_json(
            json.dumps({"baseline": base, "current": cur, "items": [vars(i) for i in items]}, default=str)
        )
        return
    when = "%Y-%m-%d %H:%M"
    title = f"Drift: {cur[0]:{when}} to now vs {base[0]:{when}} to {base[1]:{when}} UTC"
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in ("item", "baseline", "current", "n (base / cur)", "PSI", "test", "p", "verdict"):
        table.add_column(column, justify="right" if column in ("PSI", "p", "n (base / cur)") else "left")
    for i in items:
        table.add_row(
            i.item, i.baseline, i.current, f"{i.baseline_n:,} / {i.current_n:,}", _fmt(i.psi, ".3f"),
            "KS" if i.kind == "numeric" else "chi2", _fmt(i.pvalue, ".2g"),
            f"[{VERDICT_STYLE[i.verdict]}]{i.verdict}[/]",
        )  # fmt: skip
    table.caption = (
        "PSI: population stability index (< 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted); p: the two-sample "
        "test's p-value; shifted / moderate need p < 0.01 as well"
    )
    if not items:
        table.caption = "no calls in either window"
    console.print(table)
