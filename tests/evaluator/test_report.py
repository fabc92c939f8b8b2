"""Report numbers against an independent count of the rows the test itself wrote."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest

from llmsight.evaluator.report import build_report

from .spans import Call, insert_calls

EVAL_COLUMNS = ["SpanTimestamp", "TraceId", "SpanId", "ServiceName", "Model", "Metric", "Score", "Threshold",
                "Passed", "Status", "Reason", "JudgeModel", "PromptVersion", "JudgeCost"]


def eval_rows(calls, metric, outcomes, ts):
    rows = []
    for call, (status, score) in zip(calls, outcomes, strict=True):
        passed = None if score is None else int(score >= 4)
        rows.append([ts, call.trace_id, call.span_id, call.service, call.model, metric, score, 4.0, passed,
                     status, f"reason {call.span_id}", "judge-x", "v1", 0.001])
    return rows


def test_report_matches_an_independent_count(store_client, database):
    calls = [Call(duration_ms=float(i + 1), input_tokens=100 + i, output_tokens=10,
                  status="Error" if i % 10 == 0 else "Unset") for i in range(40)]
    old = Call(age_s=3 * 86400)  # outside a 24h window: must not count anywhere
    insert_calls(store_client, [*calls, old])
    store_client.insert("model_prices", [("openai", "gpt-4o-mini", "openai", "gpt-4o-mini", 0.15, 0.6, 0.075)],
                        column_names=["Provider", "Model", "CatalogProvider", "CatalogModel", "InputPerMTok",
                                      "OutputPerMTok", "CacheReadPerMTok"])
    store_client.command(f"SYSTEM RELOAD DICTIONARY `{database}`.model_prices_dict")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)
    outcomes = ([("ok", 5)] * 6 + [("ok", 3)] * 3 + [("ok", 1)] * 1 + [("not_applicable", None)] * 2
                + [("parse_error", None)] * 3 + [("judge_error", None)] * 1)
    rows = eval_rows(calls[: len(outcomes)], "relevance", outcomes, now)
    rows += eval_rows([old], "relevance", [("ok", 1)], now - dt.timedelta(days=3))
    # A judge_error later replaced by an ok for the same key: FINAL keeps only the newer row.
    store_client.insert("evaluations", rows, column_names=EVAL_COLUMNS)
    store_client.insert("evaluations", eval_rows([calls[15]], "relevance", [("ok", 4)], now),
                        column_names=EVAL_COLUMNS)

    rep = build_report(store_client, database, 86400, worst_n=2)

    (m,) = rep.metrics
    scores = [5] * 6 + [3] * 3 + [1] + [4]
    assert m.scored == len(scores) == 11
    assert m.passed == sum(s >= 4 for s in scores) == 7
    assert m.pass_rate == pytest.approx(7 / 11)
    assert m.failing_answers == 4
    assert m.avg_score == pytest.approx(statistics.mean(scores))
    assert (m.not_applicable, m.parse_errors, m.judge_errors) == (2, 3, 0)
    assert m.judge_cost == pytest.approx(0.001 * 16)
    assert [s.score for s in rep.worst] == [1, 3]
    assert rep.worst[0].trace_id == calls[9].trace_id

    c = rep.calls
    assert c.requests == 40 and c.errors == 4 and c.error_rate == pytest.approx(0.1)
    durations = sorted(float(i + 1) for i in range(40))
    assert durations[19] <= c.p50_ms <= durations[20]
    assert durations[37] <= c.p95_ms <= durations[38]
    assert c.input_tokens == sum(100 + i for i in range(40)) and c.output_tokens == 400
    assert c.cost == pytest.approx((c.input_tokens * 0.15 + 400 * 0.6) / 1e6)


def test_empty_window_has_no_pass_rate(store_client, database):
    insert_calls(store_client, [Call(age_s=5 * 86400)])
    rep = build_report(store_client, database, 3600)
    assert rep.metrics == []
    assert rep.calls.requests == 0 and rep.calls.error_rate is None and rep.calls.p50_ms is None


def test_only_not_applicable_rows_give_no_pass_rate_not_100(store_client, database):
    calls = [Call(), Call()]
    insert_calls(store_client, calls)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    store_client.insert("evaluations", eval_rows(calls, "groundedness", [("not_applicable", None)] * 2, now),
                        column_names=EVAL_COLUMNS)
    (m,) = build_report(store_client, database, 3600).metrics
    assert m.scored == 0 and m.pass_rate is None and m.avg_score is None and m.not_applicable == 2


MONITOR_COLUMNS = ["RunAt", "RunId", "Monitor", "Signal", "Metric", "Statistic", "WindowStart", "WindowEnd", "Value",
                   "Target", "Comparison", "SampleCount", "State", "Detail", "ServiceName"]


def monitor_rows(monitor, metric, statistic, target, states, first_run, service=""):
    rows = []
    for i, (state, value) in enumerate(states):
        run_at = first_run + dt.timedelta(hours=i)
        rows.append([run_at, f"run-{monitor}-{i}", monitor, "quality", metric, statistic,
                     run_at - dt.timedelta(days=1), run_at, value, target, ">=", 30, state, "", service])
    return rows


def test_report_counts_monitor_violations_per_monitor_and_metric(store_client, database):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    first = (now - dt.timedelta(hours=10)).replace(tzinfo=None)
    states = [("ok", 0.8), ("violation", 0.6), ("violation", 0.5), ("insufficient_data", None), ("ok", 0.9)]
    rows = monitor_rows("shop", "relevance", "pass_rate", 0.7, states, first, service="shop")
    rows += monitor_rows("all", "fluency", "average_score", 4.0, [("violation", 3.5), ("error", None)], first)
    # a run before the window does not count
    rows += monitor_rows("shop", "relevance", "pass_rate", 0.7, [("violation", 0.1)],
                         first - dt.timedelta(days=3), service="shop")
    store_client.insert("monitor_results", rows, column_names=MONITOR_COLUMNS)

    rep = build_report(store_client, database, 86400, now=now)
    by_monitor = {m.monitor: m for m in rep.monitors}
    shop = by_monitor["shop"]
    assert (shop.metric, shop.statistic, shop.target) == ("relevance", "pass_rate", 0.7)
    # 5 runs: 2 violations among 4 with a verdict (insufficient data is neither ok nor a violation)
    assert (shop.runs, shop.violations, shop.possible_violations, shop.insufficient_data) == (5, 2, 4, 1)
    assert shop.violation_rate == pytest.approx(0.5)
    assert (shop.last_value, shop.last_state) == (0.9, "ok")
    other = by_monitor["all"]
    assert (other.violations, other.possible_violations, other.errors, other.violation_rate) == (1, 1, 1, 1.0)
    data = rep.as_dict()
    assert [m["monitor"] for m in data["monitors"]] == ["all", "shop"]
    assert data["monitors"][1]["violation_rate"] == pytest.approx(0.5)
    # --service narrows to monitors whose target is that service
    assert [m.monitor for m in build_report(store_client, database, 86400, now=now, service="shop").monitors] == [
        "shop"]


def test_failing_answers_are_not_called_violations(store_client, database):
    calls = [Call(), Call()]
    insert_calls(store_client, calls)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    store_client.insert("evaluations", eval_rows(calls, "relevance", [("ok", 5), ("ok", 2)], now),
                        column_names=EVAL_COLUMNS)
    rep = build_report(store_client, database, 3600)
    (m,) = rep.as_dict()["metrics"]
    assert m["failing_answers"] == 1 and "violations" not in m
    assert rep.as_dict()["monitors"] == []
    with pytest.warns(DeprecationWarning):
        assert rep.metrics[0].violations == 1
