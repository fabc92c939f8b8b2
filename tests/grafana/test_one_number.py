"""One number, two consumers: for the same window and target, a monitor's value (llmsight.monitors.signals)
equals the dashboard panel's (its Grafana SQL expanded with the plugin's macros and run on the same
engine), because both are the same question from llmsight.queries."""

from __future__ import annotations

import pytest

from llmsight.monitors.config import Monitor
from llmsight.monitors.schedule import Window
from llmsight.monitors.signals import operations, quality, tokens
from llmsight.queries import Filters, ask

from .seed import METRICS, SAFETY_METRIC, THRESHOLD
from .test_panel_queries import panel_by_title, run, value

SERVICE = "chat-api"  # a target, so the filters (monitor literals / dashboard variables) are exercised too


def monitor() -> Monitor:
    return Monitor.model_validate({
        "name": "same-number",
        "target": {"service": SERVICE},
        "min_samples": 1,
        "signals": {
            "quality": {"metrics": {**{m: {"threshold": THRESHOLD, "average_min": 3, "pass_rate_min": 0.5}
                                       for m in METRICS}, SAFETY_METRIC: {}}},
            "operations": {"error_rate_max": 0.1, "latency_p95_ms_max": 1000},
            "tokens": {"budgets": {"cost": 1.0, "per_deployment": True}},
        },
    })


@pytest.fixture
def window(seeded) -> Window:
    _, _, data = seeded
    return Window(data.time_from, data.time_to)


def results(found: list) -> dict[tuple[str, str], float | None]:
    return {(r.metric, r.statistic): r.value for r in found}


def table(seeded, dashboard: str, title: str) -> tuple[list[str], list[tuple]]:
    names, _, rows = run(seeded, panel_by_title(dashboard, title)["targets"][0]["rawSql"], service=[SERVICE])
    return list(names), rows


def test_pass_rate_and_average_score_per_metric(seeded, window):
    client, database, _ = seeded
    got = results(quality(monitor(), client, database, window, judge_model=""))
    names, rows = table(seeded, "quality.json", "Per metric")
    panel = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    assert set(panel) == {*METRICS, SAFETY_METRIC}
    for metric in METRICS:
        assert got[(metric, "pass_rate")] == panel[metric]["pass_rate"]
        assert got[(metric, "average_score")] == panel[metric]["avg_score"]
    # a pass/fail metric: the same pass rate (its threshold is 1 whatever the file says), no average target
    assert panel[SAFETY_METRIC]["scale"] == "binary" and panel[SAFETY_METRIC]["threshold"] == 1
    assert got[(SAFETY_METRIC, "pass_rate")] == panel[SAFETY_METRIC]["pass_rate"] < 1
    assert (SAFETY_METRIC, "average_score") not in got


def test_error_rate_and_latency_p95(seeded, window):
    client, database, _ = seeded
    got = results(operations(monitor(), client, database, window))
    assert got[("error_rate", "error_rate")] == pytest.approx(
        value(seeded, "operations.json", "Error rate", service=[SERVICE]), rel=1e-12)
    assert got[("latency", "latency_p95_ms")] == value(seeded, "operations.json", "Latency p95", service=[SERVICE])


def test_cost_by_deployment(seeded, window):
    client, database, _ = seeded
    got = {r.metric: r.value for r in tokens(monitor(), client, database, window) if r.statistic == "cost"}
    names, rows = table(seeded, "usage.json", "Tokens and cost by deployment")
    panel = {r[names.index("model")]: r[names.index("cost")] for r in rows}
    # the same SQL; a float sum's last digit may depend on how the engine split the rows
    assert got == pytest.approx(panel, rel=1e-12) and len(got) > 1
    _, bars = table(seeded, "usage.json", "Cost by model")
    assert dict(bars) == pytest.approx(panel, rel=1e-12)  # one provider per model in the seed


def test_a_bucket_as_wide_as_the_window_is_the_windows_number(seeded, window):
    """The over-time questions are the same numbers per bucket: one bucket over the whole window is call_stats."""
    client, database, _ = seeded
    filters = Filters(service=SERVICE)
    (total,) = ask(client, database, "call_stats", window.start, window.end, filters)
    seconds = int(window.seconds) * 2  # one bucket holds the whole window whatever its alignment... or two
    buckets = ask(client, database, "call_stats_over_time", window.start, window.end, filters, bucket_s=seconds)
    assert sum(b["requests"] for b in buckets) == total["requests"]
    assert sum(b["errors"] for b in buckets) == total["errors"]
    if len(buckets) == 1:
        assert buckets[0]["latency_p95_ms"] == total["latency_p95_ms"]
