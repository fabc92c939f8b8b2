"""The monitor file as Grafana alert rules: Grafana evaluates the same questions the monitors ask.

``render_rules(file)`` is Grafana unified-alerting file provisioning (YAML): one rule group per
monitor, one rule per monitor, signal, metric and statistic. Each rule is A = the question from
``llmsight.queries`` in the ``grafana_rule`` dialect (the monitor's target and per-call thresholds
as literals) wrapped to one number per labelled instance, B = reduce (last), C = the target.

The rules keep the monitors' rules:

* the window is the monitor's: ``relativeTimeRange`` from ``lookback + lookback_offset`` to
  ``lookback_offset`` seconds ago;
* fewer samples than ``min_samples`` returns no row, and no row is ``NoData`` — insufficient data
  is never OK (nor a violation);
* a violation is one evaluation whose value misses its target, so ``for: 0s``;
* the evaluation interval is the monitor's ``every`` (rounded up to Grafana's 10 s grain). Grafana
  cannot run on a cron; for a cron schedule the interval is the shortest gap between its next runs
  (``0 * * * *`` -> 1h), so Grafana checks at least as often as the monitor, on its own clock.

llmsight sends notifications itself; Grafana's rules show the same states in Grafana. Only with
``contact_points=True`` do the channels also become Grafana contact points (grafana_contacts.py), for a
deployment where Grafana, instead of llmsight, tells people.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import yaml

from llmsight.durations import format_duration
from llmsight.monitors.config import Monitor, MonitorFile, Schedule
from llmsight.queries import Filters, render

DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "llmsight-clickhouse"}
EXPR = {"type": "__expr__", "uid": "__expr__"}
FOLDER = "llmsight"
DASHBOARDS = {
    "quality": "/d/llmsight-quality/llmsight-generation-quality",
    "judge_health": "/d/llmsight-quality/llmsight-generation-quality",
    "operations": "/d/llmsight-operations/llmsight-operations",
    "tokens": "/d/llmsight-usage/llmsight-tokens-and-cost",
}


@dataclass(frozen=True)
class Check:
    """One rule: a statistic of one signal (and metric) against its target."""

    signal: str
    metric: str  # "" when each row of A names its own (tokens per deployment)
    statistic: str
    target: float
    comparison: str  # ">=": below the target is a violation; "<=": above it
    sql: str


def _wrap(question: str, filters: Filters, select: str, *, where: str = "", group_by: str = "", **values: Any) -> str:
    inner = "\n".join(
        "  " + line for line in render(question, "grafana_rule", filters=filters, values=values).split("\n")
    )
    sql = f"SELECT {select}\nFROM (\n{inner}\n)"
    if where:
        sql += f"\nWHERE {where}"
    if group_by:
        sql += f"\nGROUP BY {group_by}"
    return sql


def _target(monitor: Monitor, **extra: Any) -> Filters:
    t = monitor.target
    return Filters(service=t.service, environment=t.environment, model=t.model, **extra)


def _quality(monitor: Monitor) -> list[Check]:
    signal = monitor.signals.quality
    if signal is None:
        return []
    checks = []
    judge = signal.judge.model
    quality_thresholds = signal.thresholds()
    for name, spec in signal.metrics.items():
        filters = _target(monitor, metrics=(name,), thresholds={name: quality_thresholds[name]})
        # the monitor's judge, else the judge that scored the most (as signals.quality picks it)
        where = f"scored >= {monitor.min_samples}" + (f" AND judge_model = {_quote(judge)}" if judge else "")
        for statistic, target, value in (
            ("pass_rate", spec.pass_rate_min, "passed / scored"),
            ("average_score", spec.average_min, "average_score"),
        ):
            if target is not None:
                sql = _wrap("quality_by_metric", filters, f"argMax({value}, scored) AS {statistic}", where=where)
                sql += "\nHAVING count() > 0"  # no judge row with min_samples: no row, so NoData (not a 0)
                checks.append(Check("quality", name, statistic, target, ">=", sql))
    checks += _judge_health(monitor)
    return checks


def _judge_health(monitor: Monitor) -> list[Check]:
    quality, health = monitor.signals.quality, monitor.signals.judge_health
    assert quality is not None
    filters = _target(monitor, metrics=tuple(quality.metrics))
    errors = _wrap(
        "judge_outcomes", filters, "if(sum(attempts) = 0, 0, sum(judge_errors) / sum(attempts)) AS judge_errors"
    )
    basis = max(0, min(10000, round(quality.sample_rate * 10000)))
    coverage = _wrap(
        "sampled_calls",
        filters,
        "judged_calls / sampled_calls AS coverage",
        where="sampled_calls > 0",
        sample_basis_points=basis,
        metric_count=len(quality.metrics),
    )
    return [
        Check("judge_health", "judge", "judge_errors", health.judge_errors_max, "<=", errors),
        Check("judge_health", "judge", "coverage", health.coverage_min, ">=", coverage),
    ]


def _operations(monitor: Monitor) -> list[Check]:
    signal = monitor.signals.operations
    if signal is None:
        return []
    filters, n = _target(monitor), monitor.min_samples
    checks = []
    if signal.min_requests:
        sql = _wrap("call_stats", filters, "requests AS request_count")
        checks.append(Check("operations", "requests", "request_count", signal.min_requests, ">=", sql))
    for statistic, target, value, samples in (
        ("error_rate", signal.error_rate_max, "errors / requests", "requests"),
        ("latency_p95_ms", signal.latency_p95_ms_max, "latency_p95_ms", "requests"),
        ("ttft_p95_ms", signal.ttft_p95_ms_max, "ttft_p95_ms", "streams"),
    ):
        if target is not None:
            sql = _wrap("call_stats", filters, f"{value} AS {statistic}", where=f"{samples} >= {n}")
            checks.append(Check("operations", statistic.split("_p95")[0], statistic, target, "<=", sql))
    return checks


def _tokens(monitor: Monitor) -> list[Check]:
    signal = monitor.signals.tokens
    if signal is None:
        return []
    budgets, filters = signal.budgets, _target(monitor)
    checks = []
    for statistic in ("prompt_tokens", "completion_tokens", "total_tokens", "cost"):
        target = getattr(budgets, statistic)
        if target is None:
            continue
        if budgets.per_deployment:  # one instance per deployment: its name is the metric label
            sql = _wrap("tokens_by_deployment", filters, f"if(model = '', '(unknown)', model) AS metric, {statistic}")
            sql += "\nORDER BY metric"
            checks.append(Check("tokens", "", statistic, target, "<=", sql))
        else:
            checks.append(Check("tokens", "all", statistic, target, "<=", _wrap(
                "tokens_by_deployment", filters, f"sum({statistic}) AS {statistic}")))  # fmt: skip
    return checks


def checks(monitor: Monitor) -> list[Check]:
    """Every statistic of the monitor that has a target, in the order the monitor computes them."""
    return _quality(monitor) + _operations(monitor) + _tokens(monitor)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def evaluation_interval(schedule: Schedule) -> int:
    """Seconds between evaluations: ``every``, or a cron's shortest gap; a multiple of 10 (Grafana's grain)."""
    if schedule.every is not None:
        seconds = schedule.every
    else:
        from croniter import croniter

        it = croniter(schedule.cron, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
        times = [it.get_next(dt.datetime) for _ in range(50)]
        seconds = min((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False))
    return max(10, int(math.ceil(seconds / 10) * 10))


def stable_uid(*parts: str) -> str:
    return "llmsight-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


def _runbook(monitor: Monitor, check: Check) -> str:
    params = {f"var-{k}": v for k, v in (("service", monitor.target.service), ("environment",
              monitor.target.environment), ("model", monitor.target.model)) if v}  # fmt: skip
    if check.signal == "quality":
        params["var-metric"] = check.metric
    params["from"] = f"now-{int(monitor.lookback + monitor.lookback_offset)}s"
    params["to"] = f"now-{int(monitor.lookback_offset)}s" if monitor.lookback_offset else "now"
    return f"{DASHBOARDS[check.signal]}?{urlencode(params)}"


def _what(check: Check) -> str:
    if check.statistic.startswith(check.metric) and check.metric:  # operations: error_rate, latency_p95_ms
        return check.statistic
    return f"{check.metric or 'per deployment'} {check.statistic}"


def rule(monitor: Monitor, check: Check) -> dict[str, Any]:
    """One Grafana rule for one check: A (the question), B (last), C (the target)."""
    metric = check.metric or "{{ $labels.metric }}"
    window = format_duration(monitor.lookback)
    ending = f", ending {format_duration(monitor.lookback_offset)} ago" if monitor.lookback_offset else ""
    labels = {"monitor": monitor.name, "signal": check.signal, "statistic": check.statistic, "team": "llmsight"}
    if check.metric:
        labels["metric"] = check.metric
    start = int(monitor.lookback + monitor.lookback_offset)
    query = {"refId": "A", "datasource": DATASOURCE, "editorType": "sql", "format": 1, "queryType": "table",
             "rawSql": check.sql}  # fmt: skip
    evaluator = {"type": "lt" if check.comparison == ">=" else "gt", "params": [check.target]}
    return {
        "uid": stable_uid(monitor.name, check.signal, check.metric, check.statistic),
        "title": f"{monitor.name}: {_what(check)}",
        "condition": "C",
        "for": "0s",
        "noDataState": "NoData",  # fewer than min_samples: insufficient data, never OK
        "execErrState": "Error",
        "labels": labels,
        "annotations": {
            "summary": f"Monitor {monitor.name}: {metric} {check.statistic} is {{{{ humanize $values.B.Value }}}}, "
            f"target {check.comparison} {check.target:g}, over the last {window}{ending}.",
            "description": f"A violation: the {check.statistic} of {metric} over the monitor's {window} window "
            f"missed its target ({check.comparison} {check.target:g}). Monitor {monitor.name}, signal {check.signal}.",
            "runbook_url": _runbook(monitor, check),
        },
        "data": [
            {
                "refId": "A",
                "datasourceUid": DATASOURCE["uid"],
                "relativeTimeRange": {"from": start, "to": int(monitor.lookback_offset)},
                "model": query,
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "relativeTimeRange": {"from": 0, "to": 0},
                "model": {
                    "refId": "B",
                    "datasource": EXPR,
                    "type": "reduce",
                    "expression": "A",
                    "reducer": "last",
                    "settings": {"mode": "dropNN"},
                },
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "relativeTimeRange": {"from": 0, "to": 0},
                "model": {
                    "refId": "C",
                    "datasource": EXPR,
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": evaluator}],
                },
            },
        ],  # fmt: skip
    }


def groups(file: MonitorFile) -> list[dict[str, Any]]:
    return [
        {
            "orgId": 1,
            "name": monitor.name,
            "folder": FOLDER,
            "interval": f"{evaluation_interval(monitor.schedule)}s",
            "rules": [rule(monitor, c) for c in checks(monitor)],
        }
        for monitor in file.monitors
        if checks(monitor)
    ]


def document(file: MonitorFile, *, contact_points: bool = False) -> dict[str, Any]:
    """The provisioning document: rule groups, and with ``contact_points`` (and channels in the file) contact
    points and a policy, for a deployment where Grafana rather than llmsight tells people (not both: the same
    violation would reach them twice)."""
    doc: dict[str, Any] = {"apiVersion": 1, "groups": groups(file)}
    if contact_points and file.channels:
        from llmsight.monitors.grafana_contacts import contact_points as points
        from llmsight.monitors.grafana_contacts import policies

        doc["contactPoints"] = points(file)
        doc["policies"] = policies(file)
    return doc


class _Dumper(yaml.SafeDumper):
    """No anchors (Grafana's provisioning reads them, people do not), SQL as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_rules(file: MonitorFile, *, contact_points: bool = False) -> str:
    """Grafana alert-rule provisioning YAML for every monitor in ``file`` (see the module docstring)."""
    header = (
        "# Generated by `llmsight monitor grafana-rules` from the monitor file: do not edit, edit llmsight.yaml.\n"
        "# Each rule: A = the monitor's question (one row per labelled instance), B = last, C = its target.\n"
    )
    return header + yaml.dump(
        document(file, contact_points=contact_points), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000
    )
