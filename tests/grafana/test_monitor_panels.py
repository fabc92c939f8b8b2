"""The Generation quality dashboard's monitor panels read monitor_results (through the query layer)
and show, for seeded runs, exactly the violations, latest states and targets counted here in Python.

A violation is one monitor run whose value missed its target (State = 'violation'); insufficient
data is neither a violation nor ok."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from .test_panel_queries import panel_by_title, run

INTERVAL_S = 600  # context_for's $__interval_s


def bucket(t: datetime) -> int:
    epoch = int((t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp())
    return epoch - epoch % INTERVAL_S


def sql(title: str) -> str:
    return panel_by_title("quality.json", title)["targets"][0]["rawSql"]


def test_violations_by_metric_count_violating_runs_per_interval(seeded):
    _, _, data = seeded
    names, _, rows = run(seeded, sql("Monitor violations by metric"))
    assert list(names) == ["time", "Monitor", "Metric", "Statistic", "violations"]
    got = Counter()
    for time, monitor, metric, statistic, violations in rows:
        got[(bucket(time), monitor, metric, statistic)] += violations
    want = Counter()
    for r in data.runs_in_range():
        want[(bucket(r.run_at), r.monitor, r.metric, r.statistic)] += r.state == "violation"
    assert got == want  # zero-violation buckets included: a run happened and met its target
    assert sum(want.values()) > 0 and any(r.state == "insufficient_data" for r in data.runs_in_range())
    # the metric variable narrows them, as it does the score panels
    _, _, rows = run(seeded, sql("Monitor violations by metric"), metric=["relevance"])
    assert {r[2] for r in rows} == {"relevance"}


def test_monitor_state_is_the_latest_run_with_value_and_target(seeded):
    _, _, data = seeded
    names, _, rows = run(seeded, sql("Monitor state"))
    got = {tuple(r[:4]): dict(zip(names, r, strict=True)) for r in rows}
    latest = {}
    for r in sorted(data.runs_in_range(), key=lambda r: r.run_at):
        latest[(r.monitor, r.signal, r.metric, r.statistic)] = r
    assert list(got) == sorted(latest)
    for key, r in latest.items():
        row = got[key]
        assert (row["state"], row["target"], row["comparison"]) == (r.state, r.target, r.comparison)
        assert row["value"] == pytest.approx(r.value)


def test_pass_rate_and_target_series_are_each_runs_value_and_target(seeded):
    _, _, data = seeded
    names, _, rows = run(seeded, sql("Pass rate and monitor target"))
    assert list(names) == ["time", "series", "pass_rate", "target"]
    got = {(bucket(t), series): (value, target) for t, series, value, target in rows}
    want = {}
    for r in sorted(data.runs_in_range(statistic="pass_rate"), key=lambda r: r.run_at):
        want[(bucket(r.run_at), f"{r.monitor} / {r.metric}")] = (r.value, r.target)
    assert got.keys() == want.keys()
    for key, (value, target) in want.items():
        assert got[key][1] == target
        assert got[key][0] == (None if value is None else pytest.approx(value))
    assert {t for _, (_, t) in want.items()} == {0.8, 0.5}  # each monitor's own target
