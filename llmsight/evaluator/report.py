"""Quality and operations numbers for one time window, computed in ClickHouse.

Pass rate is passed / scored, where only ``ok`` rows are scored: not-applicable and error rows
are counted beside it, never as passes or failures. A window with nothing scored has no pass
rate (``None``), not 100% — an idle judge must not look like a perfect app.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from llmsight.evaluator.sampling import quote


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

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.scored if self.scored else None

    @property
    def violations(self) -> int:
        return self.scored - self.passed


@dataclass
class Sample:
    metric: str
    score: int
    trace_id: str
    span_id: str
    service: str
    reason: str


@dataclass
class CallStats:
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    input_tokens: int
    output_tokens: int
    cost: float

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass
class Report:
    window_s: float
    metrics: list[MetricStats] = field(default_factory=list)
    worst: list[Sample] = field(default_factory=list)
    calls: CallStats | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json``, including the derived rates."""
        return {
            "window_s": self.window_s,
            "metrics": [{**vars(m), "pass_rate": m.pass_rate, "violations": m.violations} for m in self.metrics],
            "worst": [vars(s) for s in self.worst],
            "calls": {**vars(self.calls), "error_rate": self.calls.error_rate} if self.calls else None,
        }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _filters(column: str, window_s: float, service: str, model: str) -> str:
    where = [f"{column} >= now64(9) - toIntervalMillisecond({int(window_s * 1000)})"]
    if service:
        where.append(f"ServiceName = {quote(service)}")
    if model:
        where.append(f"Model = {quote(model)}")
    return " AND ".join(where)


def build_report(
    client: Client, database: str, window_s: float, *, service: str = "", model: str = "", worst_n: int = 3
) -> Report:
    db = f"`{database}`"
    report = Report(window_s=window_s)
    where = _filters("SpanTimestamp", window_s, service, model)
    rows = client.query(
        f"SELECT toString(Metric), toString(JudgeModel), max(Threshold), countIf(Status = 'ok'), "
        f"countIf(Status = 'ok' AND Passed = 1), avgIf(Score, Status = 'ok'), "
        f"avgIf(WeightedScore, Status = 'ok' AND WeightedScore IS NOT NULL), "
        f"countIf(Status = 'not_applicable'), countIf(Status = 'parse_error'), countIf(Status = 'judge_error'), "
        f"sum(JudgeCost) FROM {db}.evaluations FINAL WHERE {where} "
        f"GROUP BY Metric, JudgeModel ORDER BY Metric, JudgeModel"
    ).result_rows
    for metric, judge, threshold, scored, passed, avg, avg_w, na, pe, je, cost in rows:
        report.metrics.append(
            MetricStats(
                metric,
                judge,
                float(threshold),
                int(scored),
                int(passed),
                _num(avg) if scored else None,
                _num(avg_w),
                int(na),
                int(pe),
                int(je),
                float(cost),
            )
        )
    if worst_n > 0:
        worst = client.query(
            f"SELECT toString(Metric), Score, TraceId, SpanId, toString(ServiceName), Reason "
            f"FROM {db}.evaluations FINAL WHERE {where} AND Status = 'ok' AND Passed = 0 "
            f"ORDER BY Score ASC, SpanTimestamp DESC LIMIT {int(worst_n)} BY Metric"
        ).result_rows
        report.worst = [Sample(m, int(s), t, sp, svc, r) for m, s, t, sp, svc, r in worst]
    requests, errors, p50, p95, tin, tout, cost = client.query(
        f"SELECT count(), sum(IsError), quantileExact(0.5)(Duration) / 1e6, quantileExact(0.95)(Duration) / 1e6, "
        f"sum(InputTokens), sum(OutputTokens), sum(Cost) FROM {db}.llm_calls "
        f"WHERE {_filters('Timestamp', window_s, service, model)}"
    ).result_rows[0]
    report.calls = CallStats(
        int(requests),
        int(errors or 0),
        _num(p50) if requests else None,
        _num(p95) if requests else None,
        int(tin or 0),
        int(tout or 0),
        float(cost or 0.0),
    )
    return report
