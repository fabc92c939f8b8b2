"""A monitor run's results: what each signal measured, its verdict, and how they are stored and read back.

States: ``ok`` (target met), ``violation`` (target missed), ``insufficient_data`` (fewer samples than
the monitor's ``min_samples``: shown as such, never as ok) and ``error`` (the value could not be
computed, e.g. no judge configured). A result without a target is recorded for the history (token
usage per deployment) and is never a violation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from llmsight.monitors.notify.alert import WorstSample
from llmsight.monitors.notify.policy import History
from llmsight.queries import ask

OK, VIOLATION, INSUFFICIENT, ERROR = "ok", "violation", "insufficient_data", "error"
STATES = (OK, VIOLATION, INSUFFICIENT, ERROR)
UTC = dt.timezone.utc

COLUMNS = [
    "RunAt",
    "RunId",
    "Monitor",
    "Signal",
    "Metric",
    "Statistic",
    "WindowStart",
    "WindowEnd",
    "Value",
    "Target",
    "Comparison",
    "SampleCount",
    "State",
    "Detail",
    "ServiceName",
    "Environment",
    "Model",
    "Notified",
    "WorstTraceIds",
]


@dataclass
class Result:
    signal: str
    metric: str
    statistic: str
    value: float | None
    target: float | None
    comparison: str  # ">=" or "<=" (the value must satisfy it), "" without a target
    sample_count: int
    state: str
    detail: str = ""
    worst: tuple[WorstSample, ...] = ()
    notified: str = ""  # what this run sent for it: "violation", "resolved" or ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.signal, self.metric, self.statistic)


def verdict(value: float | None, target: float | None, comparison: str, samples: int, min_samples: int) -> str:
    """ok / violation / insufficient_data for a value against its target."""
    if target is None:
        return OK
    if samples < min_samples or value is None:
        return INSUFFICIENT
    met = value >= target if comparison == ">=" else value <= target
    return OK if met else VIOLATION


@dataclass
class Run:
    monitor: str
    run_id: str
    run_at: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    filters: dict[str, str]
    results: list[Result] = field(default_factory=list)

    @property
    def state(self) -> str:
        """The run's overall state: the worst of its results (error > violation > insufficient > ok)."""
        states = {r.state for r in self.results}
        for state in (ERROR, VIOLATION, INSUFFICIENT):
            if state in states:
                return state
        return OK


def write_run(client: Any, database: str, run: Run) -> None:
    rows = [
        [
            run.run_at,
            run.run_id,
            run.monitor,
            r.signal,
            r.metric,
            r.statistic,
            run.window_start,
            run.window_end,
            r.value,
            r.target,
            r.comparison,
            int(r.sample_count),
            r.state,
            r.detail,
            run.filters.get("service", ""),
            run.filters.get("environment", ""),
            run.filters.get("model", ""),
            r.notified,
            [w.trace_id for w in r.worst],
        ]
        for r in run.results
    ]
    if rows:
        client.insert(f"`{database}`.monitor_results", rows, column_names=COLUMNS)


def _moment(value: Any) -> dt.datetime | None:
    """A DateTime64 from ClickHouse as aware UTC; the epoch (what maxIf gives for no rows) as None."""
    if value is None:
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return None if moment.timestamp() <= 0 else moment


HISTORY_DAYS = 400  # how far back a violation episode is looked for


def load_history(client: Any, database: str, monitor: str, now: dt.datetime) -> dict[tuple[str, str, str], History]:
    rows = ask(client, database, "monitor_history", now - dt.timedelta(days=HISTORY_DAYS), now, monitor=monitor)
    return {
        (r["signal"], r["metric"], r["statistic"]): History(
            last_state=r["last_state"],
            violation_since=_moment(r["violation_since"]) if r["episode_violations"] else None,
            last_notified_at=_moment(r["last_notified_at"]),
        )
        for r in rows
    }


def last_run_times(client: Any, database: str) -> dict[str, dt.datetime]:
    """When each monitor last ran, so a restarted scheduler does not run everything again at once."""
    rows = client.query(f"SELECT toString(Monitor), max(RunAt) FROM `{database}`.monitor_results GROUP BY Monitor")
    return {name: moment for name, at in rows.result_rows if (moment := _moment(at))}
