"""Quality, operations and monitor numbers for one time window, from the shared query layer.

Every number is a question in ``llmsight.queries`` (the SQL monitors and dashboards run), so the
report, a monitor and a panel cannot disagree about one window.

Pass rate is passed / scored, where only ``ok`` rows are scored: not-applicable and error rows
are counted beside it, never as passes or failures. A window with nothing scored has no pass
rate (``None``), not 100% — an idle judge must not look like a perfect app.

Words (as in ``llmsight.monitors.config``): a call scoring below the per-call threshold is a
*failing answer*; a *violation* is one monitor run whose computed value (average score or pass
rate over its lookback window) missed its target. ``monitors`` counts violations per monitor,
signal, metric and statistic; the violation rate is violations / possible violations (runs with
a target and a verdict).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from llmsight.queries import Filters, ask


@dataclass
class MetricStats:
    metric: str
    judge_model: str
    threshold: float
    scored: int
    passed: int
    avg_score: float | None
    avg_weighted: float | None
    not_applicable: int
    parse_errors: int
    judge_errors: int
    judge_cost: float
    scale: str = "1-5"  # or "binary": scores are 1 (pass) and 0 (fail), and avg_score is the pass rate
    categories: dict[str, int] = field(default_factory=dict)  # failing answers by the judge's category

    @property
    def binary(self) -> bool:
        return self.scale == "binary"

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None

    @property
    def failing_answers(self) -> int:
        """Scored calls below the per-call threshold (not violations: those are monitor runs)."""
        return self.scored - self.passed

    @property
    def violations(self) -> int:
        """Deprecated name of ``failing_answers``: "violation" now means a monitor run that missed its target."""
        warnings.warn("MetricStats.violations is failing_answers", DeprecationWarning, stacklevel=2)
        return self.failing_answers


@dataclass
class Sample:
    metric: str
    score: int
    trace_id: str
    span_id: str
    service: str
    reason: str
    category: str = ""


@dataclass
class CallStats:
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    input_tokens: int
    output_tokens: int
    cost: float
    ttft_p95_ms: float | None = None  # over streamed calls only
    streams: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass
class MonitorStats:
    """One monitor's runs in the window for one signal, metric and statistic."""

    monitor: str
    signal: str
    metric: str
    statistic: str
    target: float | None
    runs: int
    violations: int  # runs whose value missed the target
    possible_violations: int  # runs with a target and a verdict (ok or violation)
    insufficient_data: int
    errors: int
    last_value: float | None = None
    last_state: str = ""

    @property
    def violation_rate(self) -> float | None:
        return self.violations / self.possible_violations if self.possible_violations else None


@dataclass
class Agreement:
    """People against the judge for one metric, on calls with both (a "fail" is the positive class)."""

    metric: str
    judge_fail_person_fail: int
    judge_fail_person_pass: int
    judge_pass_person_fail: int
    judge_pass_person_pass: int

    @property
    def precision(self) -> float | None:
        """Of the answers the judge failed, the share people failed too."""
        flagged = self.judge_fail_person_fail + self.judge_fail_person_pass
        return self.judge_fail_person_fail / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        """Of the answers people failed, the share the judge failed too."""
        failed = self.judge_fail_person_fail + self.judge_pass_person_fail
        return self.judge_fail_person_fail / failed if failed else None


@dataclass
class Feedback:
    ratings: int = 0
    rated_calls: int = 0
    negative_calls: int = 0  # calls whose latest rating is below 0.5
    agreement: list[Agreement] = field(default_factory=list)


@dataclass
class Report:
    window_s: float
    metrics: list[MetricStats] = field(default_factory=list)
    worst: list[Sample] = field(default_factory=list)
    calls: CallStats | None = None
    monitors: list[MonitorStats] = field(default_factory=list)
    screen_hits: dict[str, int] = field(default_factory=dict)  # pre-screen rule -> flagged calls
    feedback: Feedback = field(default_factory=Feedback)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json``, including the derived rates."""
        return {
            "window_s": self.window_s,
            "metrics": [
                {**vars(m), "pass_rate": m.pass_rate, "failing_answers": m.failing_answers} for m in self.metrics
            ],
            "worst": [vars(s) for s in self.worst],
            "calls": {**vars(self.calls), "error_rate": self.calls.error_rate} if self.calls else None,
            "monitors": [{**vars(m), "violation_rate": m.violation_rate} for m in self.monitors],
            "screen_hits": self.screen_hits,
            "feedback": {
                **{k: v for k, v in vars(self.feedback).items() if k != "agreement"},
                "agreement": [
                    {**vars(a), "precision": a.precision, "recall": a.recall} for a in self.feedback.agreement
                ],
            },
        }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _metric(row: dict[str, Any]) -> MetricStats:
    scored = int(row["scored"])
    return MetricStats(
        row["metric"],
        row["judge_model"],
        float(row["threshold"]),
        scored,
        int(row["passed"]),
        _num(row["average_score"]) if scored else None,
        _num(row["average_weighted"]),
        int(row["not_applicable"]),
        int(row["parse_errors"]),
        int(row["judge_errors"]),
        float(row["judge_cost"] or 0.0),
        str(row.get("scale") or "1-5"),
    )


def _calls(row: dict[str, Any]) -> CallStats:
    requests, streams = int(row["requests"]), int(row["streams"] or 0)
    return CallStats(
        requests,
        int(row["errors"] or 0),
        _num(row["latency_p50_ms"]) if requests else None,
        _num(row["latency_p95_ms"]) if requests else None,
        int(row["prompt_tokens"] or 0),
        int(row["completion_tokens"] or 0),
        float(row["cost"] or 0.0),
        _num(row["ttft_p95_ms"]) if streams else None,
        streams,
    )


def _monitors(violations: list[dict[str, Any]], latest: list[dict[str, Any]]) -> list[MonitorStats]:
    last = {(r["monitor"], r["signal"], r["metric"], r["statistic"]): r for r in latest}
    out = []
    for r in violations:
        now = last.get((r["monitor"], r["signal"], r["metric"], r["statistic"]), {})
        out.append(
            MonitorStats(
                r["monitor"],
                r["signal"],
                r["metric"],
                r["statistic"],
                _num(r["target"]),
                int(r["runs"]),
                int(r["violations"]),
                int(r["possible_violations"]),
                int(r["insufficient_data"]),
                int(r["errors"]),
                _num(now.get("value")),
                str(now.get("state", "")),
            )
        )
    return out


def build_report(
    client: Any,
    database: str,
    window_s: float,
    *,
    service: str = "",
    model: str = "",
    worst_n: int = 3,
    now: dt.datetime | None = None,
    environment: str = "",
) -> Report:
    """The report for ``[now - window_s, now)``; ``service``/``model``/``environment`` narrow calls, scores and
    monitors. Without an environment, experiments (``llmsight eval run``'s ``llmsight-eval``) are left out.

    Monitors are those whose target is exactly that service/model (all of them without a filter).
    """
    end = now or dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(seconds=window_s)
    filters = Filters(service=service, model=model, environment=environment)
    report = Report(window_s=window_s)
    report.metrics = [_metric(r) for r in ask(client, database, "quality_by_metric", start, end, filters)]
    by_metric = {m.metric: m for m in report.metrics}
    for row in ask(client, database, "failing_categories", start, end, filters):
        if row["metric"] in by_metric and row["category"]:
            by_metric[row["metric"]].categories[row["category"]] = int(row["failing"])
    if worst_n > 0:
        worst = ask(client, database, "failing_answers", start, end, filters, per_metric=worst_n)
        report.worst = [
            Sample(w["metric"], int(w["score"]), w["trace_id"], w["span_id"], w["service"], w["reason"], w["category"])
            for w in worst
        ]
    report.screen_hits = {r["hit"]: int(r["calls"]) for r in ask(client, database, "screen_hits", start, end, filters)}
    verdicts = ask(client, database, "feedback_verdicts", start, end, filters)
    report.feedback = Feedback(
        sum(int(v["ratings"]) for v in verdicts),
        len(verdicts),
        sum(v["person_score"] < 0.5 for v in verdicts),
        [Agreement(**row) for row in ask(client, database, "feedback_agreement", start, end, filters)],
    )
    report.calls = _calls(ask(client, database, "call_stats", start, end, filters)[0])
    violations = ask(client, database, "monitor_violations", start, end, filters)
    if violations:
        report.monitors = _monitors(violations, ask(client, database, "monitor_latest", start, end, filters))
    return report
