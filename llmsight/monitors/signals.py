"""Compute a monitor's signals over one window, each as results with a verdict.

Every number comes from a question in ``llmsight.queries`` (the same SQL the report and the
dashboards run), so a monitor's pass rate and the dashboard's for the same window are one query.
"""

from __future__ import annotations

from typing import Any

from llmsight.monitors.config import Monitor
from llmsight.monitors.notify.alert import WorstSample
from llmsight.monitors.results import ERROR, INSUFFICIENT, OK, VIOLATION, Result, verdict
from llmsight.monitors.schedule import Window
from llmsight.queries import Filters, ask

WORST_PER_METRIC = 3


def target_filters(monitor: Monitor, **extra: Any) -> Filters:
    t = monitor.target
    return Filters(service=t.service, environment=t.environment, model=t.model, **extra)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value or value in (float("inf"), float("-inf")) else value


def _pick_judge(rows: list[dict[str, Any]], judge_model: str) -> dict[str, dict[str, Any]]:
    """One row per metric: the monitor's judge's, else the judge that scored the most (never a sum of two
    judges, which would count a call twice)."""
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if judge_model and row["judge_model"] != judge_model:
            continue
        best = chosen.get(row["metric"])
        if best is None or row["scored"] > best["scored"]:
            chosen[row["metric"]] = row
    return chosen


def quality(monitor: Monitor, client: Any, database: str, window: Window, judge_model: str) -> list[Result]:
    signal = monitor.signals.quality
    assert signal is not None
    thresholds = signal.thresholds()
    filters = target_filters(monitor, metrics=tuple(signal.metrics), thresholds=thresholds)
    rows = _pick_judge(ask(client, database, "quality_by_metric", window.start, window.end, filters), judge_model)
    worst_rows = ask(
        client, database, "failing_answers", window.start, window.end, filters, per_metric=WORST_PER_METRIC
    )
    results = []
    for name, spec in signal.metrics.items():
        row = rows.get(name, {})
        scored, passed = int(row.get("scored", 0)), int(row.get("passed", 0))
        worst = tuple(
            WorstSample(w["trace_id"], w["span_id"], _num(w["score"]), w["reason"])
            for w in worst_rows
            if w["metric"] == name
        )
        errors = int(row.get("judge_errors", 0)) + int(row.get("parse_errors", 0))
        detail = f"{scored} scored, {scored - passed} failing answers (score < {thresholds[name]:g})"
        if int(row.get("not_applicable", 0)) or errors:
            detail += f", {int(row.get('not_applicable', 0))} not applicable, {errors} judge or parse errors"
        if scored < monitor.min_samples:
            detail = f"{scored} scored answers, fewer than min_samples {monitor.min_samples}"
        checks = (
            ("pass_rate", spec.pass_rate_min, passed / scored if scored else None),
            ("average_score", spec.average_min, _num(row.get("average_score")) if scored else None),
        )
        for statistic, target, value in checks:
            if target is None:
                continue
            state = verdict(value, target, ">=", scored, monitor.min_samples)
            results.append(Result("quality", name, statistic, value, target, ">=", scored, state, detail, worst))
    return results


def judge_health(monitor: Monitor, client: Any, database: str, window: Window, judge_configured: str) -> list[Result]:
    """Judge errors among judge calls, and coverage: sampled calls with a verdict / sampled calls.

    No minimum sample count: one call the judge keeps failing on is already news. Coverage needs
    at least one sampled call.
    """
    quality_signal, health = monitor.signals.quality, monitor.signals.judge_health
    assert quality_signal is not None
    if not judge_configured:
        detail = "no judge configured: set LLMSIGHT_JUDGE_MODEL (or signals.quality.judge.model in the monitor file)"
        return [Result("judge_health", "judge", "judge_errors", None, health.judge_errors_max, "<=", 0, ERROR, detail)]
    filters = target_filters(monitor, metrics=tuple(quality_signal.metrics))
    outcomes = ask(client, database, "judge_outcomes", window.start, window.end, filters)
    basis = max(0, min(10000, round(quality_signal.sample_rate * 10000)))
    coverage_row = ask(
        client,
        database,
        "sampled_calls",
        window.start,
        window.end,
        filters,
        sample_basis_points=basis,
        metric_count=len(quality_signal.metrics),
    )[0]
    sampled_calls, judged = int(coverage_row["sampled_calls"]), int(coverage_row["judged_calls"])
    attempts = sum(int(r["attempts"]) for r in outcomes)
    errors = sum(int(r["judge_errors"]) for r in outcomes)
    error_rate = errors / attempts if attempts else None
    coverage = judged / sampled_calls if sampled_calls else None
    error_state = OK if attempts == 0 else verdict(error_rate, health.judge_errors_max, "<=", attempts, 1)
    coverage_state = INSUFFICIENT if not sampled_calls else verdict(coverage, health.coverage_min, ">=", 1, 1)
    return [
        Result(
            "judge_health",
            "judge",
            "judge_errors",
            error_rate if attempts else 0.0,
            health.judge_errors_max,
            "<=",
            attempts,
            error_state,
            f"{errors} of {attempts} judge calls failed",
        ),
        Result(
            "judge_health",
            "judge",
            "coverage",
            coverage,
            health.coverage_min,
            ">=",
            sampled_calls,
            coverage_state,
            f"{judged} of {sampled_calls} sampled calls have a verdict for every metric",
        ),
    ]


def operations(monitor: Monitor, client: Any, database: str, window: Window) -> list[Result]:
    signal = monitor.signals.operations
    assert signal is not None
    stats = ask(client, database, "call_stats", window.start, window.end, target_filters(monitor))[0]
    requests, errors, streams = int(stats["requests"]), int(stats["errors"] or 0), int(stats["streams"] or 0)
    results = []
    if signal.min_requests:
        state = verdict(float(requests), float(signal.min_requests), ">=", 1, 1)
        detail = f"{requests} calls in the window (minimum {signal.min_requests})"
        results.append(
            Result(
                "operations",
                "requests",
                "request_count",
                float(requests),
                signal.min_requests,
                ">=",
                requests,
                state,
                detail,
            )
        )
    checks = (
        ("error_rate", signal.error_rate_max, errors / requests if requests else None, requests),
        ("latency_p95_ms", signal.latency_p95_ms_max, _num(stats["latency_p95_ms"]) if requests else None, requests),
        ("ttft_p95_ms", signal.ttft_p95_ms_max, _num(stats["ttft_p95_ms"]) if streams else None, streams),
    )
    for statistic, target, value, samples in checks:
        if target is None:
            continue
        state = verdict(value, target, "<=", samples, monitor.min_samples)
        detail = f"{samples} calls" + (f", {errors} errors" if statistic == "error_rate" else "")
        results.append(
            Result("operations", statistic.split("_p95")[0], statistic, value, target, "<=", samples, state, detail)
        )
    return results


_BUDGETS = ("prompt_tokens", "completion_tokens", "total_tokens", "cost")


def tokens(monitor: Monitor, client: Any, database: str, window: Window) -> list[Result]:
    """Usage per deployment (recorded, no target) and the budgets, per deployment or for the whole target."""
    signal = monitor.signals.tokens
    assert signal is not None
    budgets = signal.budgets
    deployments = ask(client, database, "tokens_by_deployment", window.start, window.end, target_filters(monitor))
    results = []
    for row in deployments:
        for statistic in _BUDGETS:
            target = getattr(budgets, statistic) if budgets.per_deployment else None
            value = float(row[statistic] or 0)
            state = verdict(value, target, "<=", 1, 1)
            results.append(
                Result(
                    "tokens",
                    row["model"] or "(unknown)",
                    statistic,
                    value,
                    target,
                    "<=" if target is not None else "",
                    int(row["requests"]),
                    state,
                    f"provider {row['provider'] or '(unknown)'}",
                )
            )
    if not budgets.per_deployment:
        totals = {s: sum(float(r[s] or 0) for r in deployments) for s in _BUDGETS}
        requests = sum(int(r["requests"]) for r in deployments)
        for statistic in _BUDGETS:
            target = getattr(budgets, statistic)
            if target is None:
                continue
            state = verdict(totals[statistic], target, "<=", 1, 1)
            results.append(
                Result(
                    "tokens", "all", statistic, totals[statistic], target, "<=", requests, state, f"{requests} calls"
                )
            )
    return results


def drift(monitor: Monitor, client: Any, database: str, window: Window) -> list[Result]:
    """PSI per item, the monitor's window against the baseline before it (llmsight.evaluator.drift)."""
    import datetime as dt

    from llmsight.evaluator.drift import ALPHA, compare

    signal = monitor.signals.drift
    assert signal is not None
    baseline = (window.start - dt.timedelta(seconds=signal.baseline), window.start)
    items = compare(client, database, baseline, (window.start, window.end), target_filters(monitor),
                    monitor.min_samples)  # fmt: skip
    results = []
    for item in items:
        if signal.items and item.item not in signal.items:
            continue
        samples = min(item.baseline_n, item.current_n)
        if item.verdict == "insufficient data":
            state = INSUFFICIENT
        elif item.psi is not None and item.psi > signal.psi_max and (item.pvalue or 0.0) < ALPHA:
            state = VIOLATION
        else:
            state = OK
        detail = (f"{item.verdict}: {item.baseline} -> {item.current} (p {item.pvalue:.2g})" if item.pvalue is not None
                  else f"{item.verdict}: {item.baseline_n} baseline / {item.current_n} current")  # fmt: skip
        results.append(Result("drift", item.item, "psi", item.psi, signal.psi_max, "<=", samples, state, detail))
    return results
