"""``llmsight monitor check|run|grafana-rules`` and ``llmsight monitors``: the monitor file from the terminal.

A file that cannot be used is one red line per mistake and exit 2, before anything starts.
``monitor run --once`` exits 1 when a run found a violation or an error, so cron jobs and CI can
act on it; ``insufficient data`` is not a failure, but it is printed as such, never as ok.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from typing import Annotated, Any

import typer
from rich import box
from rich.padding import Padding
from rich.table import Table

from llmsight.cli.common import (
    ConfigOption,
    StoreOption,
    console,
    default_note,
    err_console,
    fail,
    make_settings,
    user_errors,
)

app = typer.Typer(help="Check, run and export the monitors of the monitor file (llmsight.yaml).", no_args_is_help=True)

STATE_STYLE = {"ok": "green", "violation": "bold red", "insufficient_data": "yellow", "error": "bold magenta"}
UTC = dt.timezone.utc


def load(config: str | None, settings: Any = None) -> Any:
    """The monitor file (or the default monitor) as every command sees it; a bad file is its errors and exit 2."""
    from llmsight.monitors.loader import MonitorFileError, load_for_settings

    try:
        return load_for_settings(settings if settings is not None else make_settings(), config)
    except MonitorFileError as exc:
        for line in str(exc).splitlines():
            err_console.print(f"[bold red]error:[/] {line}")
        raise typer.Exit(2) from None


def _target(monitor: Any) -> str:
    t = monitor.target
    parts = [f"{k}={v}" for k, v in (("service", t.service), ("environment", t.environment), ("model", t.model)) if v]
    return ", ".join(parts) or "all calls"


def _percent(value: float) -> str:
    return f"{value * 100:g}%"


def _describe(monitor: Any, now: dt.datetime) -> list[Any]:
    """What one monitor watches, as printable lines and a metrics table."""
    from llmsight.durations import format_duration
    from llmsight.monitors.schedule import next_run

    s, out = monitor.signals, []
    window = format_duration(monitor.lookback)
    if monitor.lookback_offset:
        window += f" ending {format_duration(monitor.lookback_offset)} before each run"
    out.append(f"[bold]{monitor.name}[/]  {_target(monitor)}")
    upcoming = next_run(monitor.schedule, now)
    out.append(f"  schedule      {monitor.schedule.describe()}, next {upcoming:%Y-%m-%d %H:%M} UTC")
    out.append(f"  window        {window}; fewer than {monitor.min_samples} samples is insufficient data")
    if s.quality is not None:
        judge = s.quality.judge.model or "LLMSIGHT_JUDGE_MODEL"
        out.append(f"  quality       judge {judge}, sample {_percent(s.quality.sample_rate)} of calls")
        metrics = Table(box=box.SIMPLE, padding=(0, 2, 0, 0), show_edge=False, expand=False)
        for column in ("  metric", "fails below", "pass rate >=", "average >="):
            metrics.add_column(column)
        for name, spec in s.quality.metrics.items():
            metrics.add_row(
                f"  {name}",
                f"{spec.threshold:g}",
                "—" if spec.pass_rate_min is None else f"{spec.pass_rate_min:g}",
                "—" if spec.average_min is None else f"{spec.average_min:g}",
            )
        out.append(Padding(metrics, (0, 0, 0, 14)))
        h = s.judge_health
        errors, coverage = _percent(h.judge_errors_max), _percent(h.coverage_min)
        out.append(f"  judge health  judge errors <= {errors}, coverage >= {coverage}")
    if s.operations is not None:
        o = s.operations
        goals = [
            f"{label} {value:g}"
            for label, value in (
                ("error rate <=", o.error_rate_max),
                ("latency p95 (ms) <=", o.latency_p95_ms_max),
                ("TTFT p95 (ms) <=", o.ttft_p95_ms_max),
                ("requests >=", o.min_requests or None),
            )
            if value is not None
        ]
        out.append("  operations    " + (", ".join(goals) or "recorded, no targets"))
    if s.tokens is not None:
        b = s.tokens.budgets
        goals = [
            f"{name} <= {value:g}"
            for name in ("prompt_tokens", "completion_tokens", "total_tokens", "cost")
            if (value := getattr(b, name)) is not None
        ]
        scope = " per deployment" if b.per_deployment else " per window"
        out.append("  tokens        usage per deployment" + ("; budgets " + ", ".join(goals) + scope if goals else ""))
    if s.drift is not None:
        d = s.drift
        watched = ", ".join(d.items) if d.items else "every item of llmsight drift"
        out.append(f"  drift         {watched}: PSI <= {d.psi_max:g} against the {format_duration(d.baseline)} before")
    if monitor.notify.channels:
        repeat = format_duration(monitor.notify.repeat_interval)
        resolved = ", and once when resolved" if monitor.notify.send_resolved else ""
        channels = ", ".join(monitor.notify.channels)
        out.append(f"  notify        {channels} (again every {repeat} while in violation{resolved})")
    else:
        out.append("  notify        [dim]no one (no channels)[/]")
    return out


@app.command("check")
def check(config: ConfigOption = None) -> None:
    """Validate the monitor file and print what it would monitor.

    Example: [bold]llmsight monitor check --config llmsight.yaml[/]
    """
    loaded = load(config)
    now = dt.datetime.now(UTC)
    console.print(f"{len(loaded.file.monitors)} monitor(s) from {loaded.source}: valid\n")
    for monitor in loaded.file.monitors:
        for line in _describe(monitor, now):
            console.print(line)
        console.print()
    for name, channel in loaded.file.channels.items():
        if channel.type == "webhook" and channel.url_env:
            where = f"the URL in ${channel.url_env} ({channel.format})"
        elif channel.type == "webhook":  # a webhook URL's path is often its secret (Slack's is): show the host only
            where = "/".join(channel.url.split("/")[:3]) + f"/… ({channel.format})"
        else:
            where = f"{', '.join(channel.to)} via {channel.host}:{channel.port}"
        console.print(f"channel [bold]{name}[/]: {channel.type} to {where}")


def results_table(runs: list[Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("monitor", "signal", "metric", "statistic", "value", "target", "samples", "state", "detail"):
        table.add_column(column, overflow="fold")
    for run in runs:
        for r in run.results:
            value = "—" if r.value is None else f"{r.value:.4g}"
            target = "—" if r.target is None else f"{r.comparison} {r.target:g}"
            style = STATE_STYLE.get(r.state, "")
            state = f"[{style}]{r.state.replace('_', ' ')}[/]" + (f" (sent {r.notified})" if r.notified else "")
            table.add_row(
                run.monitor, r.signal, r.metric, r.statistic, value, target, str(r.sample_count), state, r.detail
            )
    return table


def _scheduler(settings: Any, loaded: Any, store: Any, dispatcher: Any) -> Any:
    from llmsight.evaluator.config import EvaluatorConfig
    from llmsight.monitors.runner import JudgeSettings, judge_window
    from llmsight.monitors.scheduler import Scheduler
    from llmsight.store.client import open_client

    base = EvaluatorConfig.from_settings(settings)
    judge = JudgeSettings(settings.judge_model, settings.judge_base_url, settings.judge_api_key)
    return Scheduler(
        loaded.file,
        lambda: open_client(store),
        store.database,
        judge,
        judging=lambda client: judge_window(client, store.database, base),
        submit=dispatcher.submit,
    )


@app.command("run")
def run(
    names: Annotated[list[str] | None, typer.Argument(help="Monitors to run." + default_note("all"))] = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="Run now and exit (1 if a violation or error was found)." + default_note("off")),
    ] = False,
    config: ConfigOption = None,
    clickhouse_url: StoreOption = None,
) -> None:
    """Run monitors on their schedules (a worker beside a ClickHouse server), or once now.

    `llmsight serve` runs the monitors itself; this is for a ClickHouse server deployment, or for cron and CI.

    Example: [bold]llmsight monitor run --once checkout-quality[/]
    """
    from llmsight.cli.common import running_serve
    from llmsight.monitors.notify import Dispatcher
    from llmsight.store.url import parse_store_url

    loaded = load(config)
    with user_errors():
        settings = make_settings(clickhouse_url=clickhouse_url)
        store = parse_store_url(settings.clickhouse_url)
        if store.embedded and running_serve(settings):
            raise fail(
                f"the embedded store {store.path} belongs to a running `llmsight serve`, which runs these monitors "
                "itself on their schedules; see them with `llmsight monitors`. Stop serve to run them by hand."
            )
        from llmsight.monitors.runner import monitors_named

        try:
            chosen = monitors_named(loaded.file, list(names or []))
        except KeyError as exc:
            raise fail(str(exc.args[0])) from None
        loaded = replace(loaded, file=loaded.file.model_copy(update={"monitors": chosen}))  # only the named ones
        with Dispatcher(loaded.file.channels) as dispatcher:
            scheduler = _scheduler(settings, loaded, store, dispatcher)
            if once:
                runs = _run_now(scheduler, chosen)
                console.print(results_table(runs))
                if not dispatcher.flush(60):
                    err_console.print("[yellow]warning:[/] some notifications were still being retried at exit")
                if any(r.state in ("violation", "error") for r in runs):
                    raise typer.Exit(1)
                return
            from llmsight.monitors.service import MonitorJobs

            console.print(f"running {len(chosen)} monitor(s) from {loaded.source}; Ctrl+C to stop")
            worker = MonitorJobs(settings, loaded, dispatcher=dispatcher)
            try:
                worker.run_forever(lambda finished: console.print(results_table([finished])), time.sleep)
            except KeyboardInterrupt:
                return


def _run_now(scheduler: Any, monitors: list[Any]) -> list[Any]:
    from llmsight.monitors.runner import judge_for, run_monitor

    client = scheduler.client_factory()
    now = dt.datetime.now(UTC)
    try:
        return [
            run_monitor(
                m,
                client,
                scheduler.database,
                run_at=now,
                judge=judge_for(m, scheduler.judge),
                judging=scheduler.judging(client),
                submit=scheduler.submit,
            )
            for m in monitors
        ]
    finally:
        client.close()


def monitors(config: ConfigOption = None, clickhouse_url: StoreOption = None) -> None:
    """Every monitor: its last result per signal and metric, its state, and when it runs next.

    Example: [bold]llmsight monitors[/]
    """
    from llmsight.cli.common import query_client
    from llmsight.cli.report import schema_hint
    from llmsight.monitors.schedule import next_run
    from llmsight.queries import ask

    loaded = load(config)
    now = dt.datetime.now(UTC)
    with user_errors(), schema_hint():
        settings = make_settings(clickhouse_url=clickhouse_url)
        client = query_client(settings)
        from llmsight.store.url import parse_store_url

        database = parse_store_url(settings.clickhouse_url).database
        rows = ask(client, database, "monitor_latest", now - dt.timedelta(days=400), now + dt.timedelta(minutes=1))
    by_monitor: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_monitor.setdefault(row["monitor"], []).append(row)
    table = Table(title=f"monitors from {loaded.source}", box=box.SIMPLE_HEAD)
    for column in (
        "monitor",
        "signal",
        "metric",
        "statistic",
        "value",
        "target",
        "samples",
        "state",
        "last run",
        "next",
    ):
        table.add_column(column, overflow="fold")
    for m in loaded.file.monitors:
        upcoming = f"{next_run(m.schedule, now):%m-%d %H:%M}"
        results = by_monitor.get(m.name) or []
        if not results:
            table.add_row(m.name, "", "", "", "", "", "", "[dim]not run yet[/]", "", upcoming)
        for i, r in enumerate(results):
            value = "—" if r["value"] is None else f"{r['value']:.4g}"
            target = "—" if r["target"] is None else f"{r['comparison']} {r['target']:g}"
            style = STATE_STYLE.get(r["state"], "")
            table.add_row(
                m.name if i == 0 else "",
                r["signal"],
                r["metric"],
                r["statistic"],
                value,
                target,
                str(r["sample_count"]),
                f"[{style}]{r['state'].replace('_', ' ')}[/]",
                f"{r['run_at']:%m-%d %H:%M}" if i == 0 else "",
                upcoming if i == 0 else "",
            )
    console.print(table)
    stale = sorted(set(by_monitor) - {m.name for m in loaded.file.monitors})
    if stale:
        console.print(f"[dim]results also stored for monitors no longer in the file: {', '.join(stale)}[/]")


@app.command("grafana-rules")
def grafana_rules(
    config: ConfigOption = None,
    out: Annotated[
        str | None,
        typer.Option("--out", help="Write the YAML here (parent directories are made)." + default_note("stdout")),
    ] = None,
    contact_points: Annotated[
        bool,
        typer.Option(
            "--contact-points",
            help="Also make the channels Grafana contact points, for when Grafana instead of llmsight tells people."
            + default_note("off: llmsight sends notifications"),
        ),
    ] = False,
) -> None:
    """Grafana alert rules for the monitors: the same questions, targets and windows, as provisioning YAML.

    Example: [bold]llmsight monitor grafana-rules --out grafana/provisioning/alerting/llmsight-rules.yaml[/]
    """
    from pathlib import Path

    from llmsight.monitors.grafana_rules import render_rules

    loaded = load(config)
    text = render_rules(loaded.file, contact_points=contact_points)
    if not out:
        typer.echo(text, nl=False)
        return
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
    err_console.print(f"wrote {len(loaded.file.monitors)} monitor(s)' alert rules from {loaded.source} to {path}")
