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
    assert m.violations == 4
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
