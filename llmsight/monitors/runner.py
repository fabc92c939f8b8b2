"""One monitor run: judge what its window still needs, compute its signals, store the results, notify.

A run never raises for what it measures: a signal that cannot be computed is an ``error`` result
(stored and shown), and notifications are handed to the dispatcher, which delivers them in the
background, so a failing mail server cannot stop a run, ingest or the evaluator.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from llmsight.monitors import signals
from llmsight.monitors.config import Monitor, MonitorFile
from llmsight.monitors.notify.alert import Alert
from llmsight.monitors.notify.policy import History, decide
from llmsight.monitors.results import ERROR, Result, Run, load_history, write_run
from llmsight.monitors.schedule import window_for

log = logging.getLogger("llmsight.monitors")


@dataclass(frozen=True)
class JudgeSettings:
    """The deployment's judge (LLMSIGHT_JUDGE_*), which a monitor's ``judge:`` may override."""

    model: str = ""
    base_url: str = ""
    api_key: str = ""


def judge_for(monitor: Monitor, default: JudgeSettings) -> JudgeSettings:
    quality = monitor.signals.quality
    if quality is None:
        return default
    ref = quality.judge
    key = os.environ.get(ref.api_key_env, "") if ref.api_key_env else default.api_key
    return JudgeSettings(ref.model or default.model, ref.base_url or default.base_url, key)


def evaluator_config(monitor: Monitor, judge: JudgeSettings, base: Any = None) -> Any:
    """The evaluator's configuration for this monitor's window, target, metrics and sample rate."""
    from llmsight.evaluator.config import EvaluatorConfig

    quality = monitor.signals.quality
    assert quality is not None
    cfg = base or EvaluatorConfig.from_settings(None)
    return replace(
        cfg,
        judge_model=judge.model,
        judge_base_url=judge.base_url,
        judge_api_key=judge.api_key,
        sample_rate=quality.sample_rate,
        metrics=tuple(quality.metrics),
        since_s=monitor.lookback + monitor.lookback_offset,
        service=monitor.target.service,
        environment=monitor.target.environment,
        model=monitor.target.model,
        thresholds=tuple(quality.thresholds().items()),
        rubrics_dir=quality.rubrics_dir or cfg.rubrics_dir,
    ).validated()


Judging = Callable[[Monitor, JudgeSettings], Any]  # judges a monitor's window; returns a RunSummary


def judge_window(client: Any, database: str, base: Any = None) -> Judging:
    """Run the evaluator for a monitor's window (only what is not judged yet: sampling skips done work).

    ``base`` is an ``EvaluatorConfig`` for the knobs a monitor does not set (timeouts, retries, caps).
    """

    def run(monitor: Monitor, judge: JudgeSettings) -> Any:
        from llmsight.evaluator.worker import run_once

        return run_once(evaluator_config(monitor, judge, base), client, database)

    return run


def _filters(monitor: Monitor) -> dict[str, str]:
    t = monitor.target
    return {k: v for k, v in (("service", t.service), ("environment", t.environment), ("model", t.model)) if v}


def compute(monitor: Monitor, client: Any, database: str, run_at: dt.datetime, judge_model: str) -> Run:
    """The run's results, without side effects: what ``monitor run --once`` and serve's scheduler store."""
    window = window_for(monitor, run_at)
    run = Run(monitor.name, uuid.uuid4().hex, run_at, window.start, window.end, _filters(monitor))
    steps: list[tuple[str, Callable[[], list[Result]]]] = []
    s = monitor.signals
    if s.quality is not None:
        steps.append(("quality", lambda: signals.quality(monitor, client, database, window, judge_model)))
        steps.append(("judge_health", lambda: signals.judge_health(monitor, client, database, window, judge_model)))
    if s.operations is not None:
        steps.append(("operations", lambda: signals.operations(monitor, client, database, window)))
    if s.tokens is not None:
        steps.append(("tokens", lambda: signals.tokens(monitor, client, database, window)))
    if s.drift is not None:
        steps.append(("drift", lambda: signals.drift(monitor, client, database, window)))
    for name, step in steps:
        try:
            run.results.extend(step())
        except Exception as exc:  # one signal's failure is its result, not the run's end
            log.warning("monitor %s: signal %s could not be computed: %s", monitor.name, name, exc)
            run.results.append(Result(name, "", "", None, None, "", 0, ERROR, f"could not compute: {exc}"[:500]))
    return run


def _alert(kind: str, monitor: Monitor, run: Run, result: Result, history: History) -> Alert:
    return Alert(
        kind=kind,  # type: ignore[arg-type]
        monitor=monitor.name,
        signal=result.signal,
        metric=result.metric,
        statistic=result.statistic,
        value=result.value,
        target=float(result.target or 0.0),
        comparison=result.comparison,  # type: ignore[arg-type]
        window_start=run.window_start,
        window_end=run.window_end,
        sample_count=result.sample_count,
        run_at=run.run_at,
        filters=run.filters,
        worst=result.worst,
        first_violation_at=history.violation_since,
    )


def notify(monitor: Monitor, run: Run, history: dict[tuple[str, str, str], History]) -> list[Alert]:
    """Decide per result whether this run sends a violation or a resolved message; marks what it sends."""
    channels = monitor.notify.channels
    alerts = []
    for result in run.results:
        if result.target is None or not result.comparison:
            continue
        past = history.get(result.key, History(None, None, None))
        kind = decide(result.state, past, run.run_at, monitor.notify.repeat_interval, monitor.notify.send_resolved)
        if kind is None or not channels:
            continue  # nothing sent is nothing recorded: channels added later still hear of an open episode
        result.notified = kind
        alerts.append(_alert(kind, monitor, run, result, past))
    return alerts


def run_monitor(
    monitor: Monitor,
    client: Any,
    database: str,
    *,
    run_at: dt.datetime,
    judge: JudgeSettings,
    judging: Judging | None = None,
    submit: Callable[..., None] | None = None,
) -> Run:
    """Judge (when a judge is set), compute, store and notify; returns the stored run."""
    if judging is not None and monitor.signals.quality is not None and judge.model:
        try:
            judging(monitor, judge)
        except Exception as exc:  # the judge's failure shows in judge health; the run goes on
            log.warning("monitor %s: judging its window failed: %s", monitor.name, exc)
    run = compute(monitor, client, database, run_at, judge.model)
    history = load_history(client, database, monitor.name, run_at)
    alerts = notify(monitor, run, history)
    # Stored first: a run the store cannot keep sends nothing, or a full disk would repeat it every run.
    write_run(client, database, run)
    for alert in alerts:
        if submit is not None:
            submit(alert, monitor.notify.channels)
    return run


def monitors_named(file: MonitorFile, names: list[str]) -> list[Monitor]:
    if not names:
        return list(file.monitors)
    known = {m.name for m in file.monitors}
    missing = [n for n in names if n not in known]
    if missing:
        raise KeyError(f"no monitor named {', '.join(missing)}; the file has {', '.join(sorted(known)) or 'none'}")
    return [file.monitor(n) for n in names]
