"""Every panel's SQL, expanded as Grafana + the ClickHouse plugin would, runs on seeded data,
returns the shape its panel type needs, and the key numbers equal an independent count."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from .conftest import all_panels, context_for, load_dashboards
from .macros import expand
from .seed import HARM_CATEGORIES, METRICS, SAFETY_METRIC, THRESHOLD

NUMERIC_PREFIXES = ("UInt", "Int", "Float", "Decimal", "Nullable(UInt", "Nullable(Int", "Nullable(Float")
PANELS = all_panels()


def run(seeded, sql: str, **variables):
    client, _, _ = seeded
    result = client.query(expand(sql, context_for(seeded, **variables)))
    types = [t.name for t in result.column_types]
    return result.column_names, types, result.result_rows


def is_numeric(type_name: str) -> bool:
    return type_name.startswith(NUMERIC_PREFIXES)


def panel_by_title(dashboard: str, title: str) -> dict:
    for p in load_dashboards()[dashboard]["panels"]:
        if p["title"] == title:
            return p
    raise KeyError(title)


def value(seeded, dashboard: str, title: str, **variables):
    _, _, rows = run(seeded, panel_by_title(dashboard, title)["targets"][0]["rawSql"], **variables)
    assert len(rows) == 1, rows
    return rows[0][0]


@pytest.mark.parametrize("dashboard,panel", PANELS, ids=[f"{d}:{p['title']}" for d, p in PANELS])
def test_panel_query_runs_and_has_the_shape_its_panel_needs(seeded, dashboard, panel):
    sql = panel["targets"][0]["rawSql"]
    names, types, rows = run(seeded, sql)
    kind = panel["type"]
    assert rows, f"{panel['title']} returned no rows on seeded data"
    if kind == "timeseries":
        assert names[0] == "time" and types[0].startswith("DateTime"), (names, types)
        assert any(is_numeric(t) for t in types[1:]), types
        times = [r[0] for r in rows]
        assert times == sorted(times), "time series must be ordered by time"
    elif kind == "stat":
        assert len(rows) == 1 and is_numeric(types[0]), (names, types, rows)
        assert rows[0][0] is not None and not (isinstance(rows[0][0], float) and math.isnan(rows[0][0]))
    elif kind == "bargauge":
        assert types[0].startswith(("String", "LowCardinality")) and is_numeric(types[-1]), types
    elif kind == "barchart":
        assert names[0] == panel["options"]["xField"], names
        assert all(is_numeric(t) for t in types[1:]), types
    elif kind == "traces":
        for col in ("traceID", "spanID", "parentSpanID", "serviceName", "operationName", "startTime",
                    "duration", "tags", "serviceTags"):
            assert col in names
    else:
        assert kind == "table", kind


def test_variable_queries_run(seeded):
    _, _, data = seeded
    for dash in load_dashboards().values():
        for var in dash["templating"]["list"]:
            if var["type"] != "query":
                continue
            _, _, rows = run(seeded, var["query"]["rawSql"])
            values = {r[0] for r in rows}
            assert values, var["name"]
            if var["name"] == "service":
                assert values == {c.service for c in data.in_range()}


def test_operations_numbers_match_the_data(seeded):
    _, _, data = seeded
    calls = data.in_range()
    assert value(seeded, "operations.json", "Requests") == len(calls)
    errors = sum(c.error for c in calls)
    assert value(seeded, "operations.json", "Error rate") == pytest.approx(errors / len(calls))
    # a filter picks only that service's calls
    chat = data.in_range(service="chat-api")
    assert value(seeded, "operations.json", "Requests", service=["chat-api"]) == len(chat)
    assert value(seeded, "operations.json", "Requests", service=["chat-api"], environment=["prod"]) == len(
        [c for c in chat if c.environment == "prod"])
    seconds = (data.time_to - data.time_from).total_seconds()
    assert value(seeded, "operations.json", "Throughput") == pytest.approx(len(calls) / seconds)
    # the exact p95 in ms (call_stats' quantileExact: the sorted value at index floor(0.95 n)), as a monitor has it
    durations = sorted(c.duration_ns / 1e6 for c in calls)
    assert value(seeded, "operations.json", "Latency p95") == pytest.approx(durations[int(0.95 * len(durations))])
    ttfts = sorted(c.ttft * 1000 for c in calls if c.ttft is not None)
    assert value(seeded, "operations.json", "Time to first token p95") == pytest.approx(ttfts[int(0.95 * len(ttfts))])


def test_requests_by_service_sum_to_the_per_service_counts(seeded):
    _, _, data = seeded
    names, _, rows = run(seeded, panel_by_title("operations.json", "Requests by service")["targets"][0]["rawSql"])
    got = Counter()
    for row in rows:
        got[row[1]] += row[2]
    assert got == Counter(c.service for c in data.in_range())


def test_recent_errors_lists_each_failed_call_with_its_message(seeded):
    _, _, data = seeded
    names, _, rows = run(seeded, panel_by_title("operations.json", "Recent errors")["targets"][0]["rawSql"])
    failed = [c for c in data.in_range() if c.error]
    assert len(rows) == min(100, len(failed))
    msg = names.index("StatusMessage")
    assert all("rate limited" in r[msg] for r in rows)


def test_token_and_cost_numbers_match_the_data(seeded):
    _, _, data = seeded
    calls = data.in_range()
    assert value(seeded, "usage.json", "Prompt tokens") == sum(c.input_tokens for c in calls)
    assert value(seeded, "usage.json", "Completion tokens") == sum(c.output_tokens for c in calls)
    assert value(seeded, "usage.json", "Total tokens") == sum(c.input_tokens + c.output_tokens for c in calls)
    assert value(seeded, "usage.json", "Cost") == pytest.approx(sum(c.cost for c in calls))
    unpriced = [c for c in calls if c.cost == 0 and c.input_tokens + c.output_tokens > 0]
    assert value(seeded, "usage.json", "Calls without a price") == len(unpriced)


@pytest.mark.parametrize("scope,attr", [("Model", "model"), ("RequestModel", "model"), ("Provider", "provider"),
                                        ("ServiceName", "service"), ("Environment", "environment")])
def test_trend_scope_variable_splits_tokens_by_the_chosen_column(seeded, scope, attr):
    _, _, data = seeded
    sql = panel_by_title("usage.json", "Tokens by ${scope}")["targets"][0]["rawSql"]
    _, _, rows = run(seeded, sql, scope=scope)
    got = Counter()
    for _, series, tokens in rows:
        got[series] += tokens
    want = Counter()
    for c in data.in_range():
        want[getattr(c, attr)] += c.input_tokens + c.output_tokens
    assert +got == +want


def test_cost_panels_agree_with_the_cost_alias_column(seeded):
    """Panels price token sums per model instead of summing llm_calls.Cost row by row (for speed);
    the result must be the schema's own Cost, whatever the split."""
    client, _, _ = seeded
    ref = client.query(expand("SELECT sum(Cost) FROM otel.llm_calls WHERE $__timeFilter(Timestamp)",
                              context_for(seeded))).result_rows[0][0]
    assert ref > 0
    assert value(seeded, "usage.json", "Cost") == pytest.approx(ref)
    for title in ("Cost by service", "Cost by model", "Cost by user"):
        names, _, rows = run(seeded, panel_by_title("usage.json", title)["targets"][0]["rawSql"])
        assert sum(r[names.index("cost")] for r in rows) == pytest.approx(ref), title
    for scope in ("Model", "Provider", "ServiceName", "Environment", "RequestModel"):
        _, _, rows = run(seeded, panel_by_title("usage.json", "Cost over time by ${scope}")["targets"][0]["rawSql"],
                         scope=scope)
        assert sum(r[2] for r in rows) == pytest.approx(ref), scope


def test_cost_by_user_adds_up(seeded):
    _, _, data = seeded
    names, _, rows = run(seeded, panel_by_title("usage.json", "Cost by user")["targets"][0]["rawSql"])
    by_user = {r[0]: r[names.index("cost")] for r in rows}
    want = Counter()
    for c in data.in_range():
        want[c.user or "(none)"] += c.cost
    assert by_user == pytest.approx(dict(want))


def test_quality_numbers_match_the_data(seeded):
    _, _, data = seeded
    ok = data.evals_in_range()
    assert value(seeded, "quality.json", "Pass rate") == pytest.approx(sum(e.passed for e in ok) / len(ok))
    assert value(seeded, "quality.json", "Failing answers") == sum(e.passed == 0 for e in ok)
    assert value(seeded, "quality.json", "Evaluated calls") == len({e.call.span_id for e in ok})
    errors = [e for e in data.evals_in_range(status=None) if e.status in ("judge_error", "parse_error")]
    assert value(seeded, "quality.json", "Judge errors") == len(errors)
    evaluated = {e.call.span_id for e in data.evals_in_range(status=None)}
    assert value(seeded, "quality.json", "Judge coverage") == pytest.approx(len(evaluated) / len(data.in_range()))
    # per metric, and with the metric variable narrowing it
    names, _, rows = run(seeded, panel_by_title("quality.json", "Per metric")["targets"][0]["rawSql"])
    table = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    for metric in METRICS:
        m = data.evals_in_range(metric=metric)
        assert table[metric]["scored"] == len(m)
        assert table[metric]["pass_rate"] == pytest.approx(sum(e.passed for e in m) / len(m))
        assert table[metric]["avg_score"] == pytest.approx(sum(e.score for e in m) / len(m))
        assert table[metric]["threshold"] == THRESHOLD
        assert table[metric]["failing_answers"] == sum(e.passed == 0 for e in m)
        assert value(seeded, "quality.json", "Failing answers", metric=[metric]) == sum(e.passed == 0 for e in m)


def test_score_histogram_counts_each_score(seeded):
    _, _, data = seeded
    _, _, rows = run(seeded, panel_by_title("quality.json", "Score histogram")["targets"][0]["rawSql"])
    for row in rows:
        metric, counts = row[0], list(row[1:])
        want = Counter(e.score for e in data.evals_in_range(metric=metric))
        assert counts == [want.get(s, 0) for s in range(1, 6)]
    assert SAFETY_METRIC not in {row[0] for row in rows}  # pass/fail scores are not on a 1-5 histogram


def test_pre_screen_hits_count_the_flagged_calls_in_range(seeded):
    _, _, data = seeded
    _, _, rows = run(seeded, panel_by_title("quality.json", "Pre-screen hits")["targets"][0]["rawSql"])
    assert rows == [("injection_phrase", sum(c.injected for c in data.calls if c.in_range))]
    _, _, one = run(seeded, panel_by_title("quality.json", "Pre-screen hits")["targets"][0]["rawSql"],
                    service=["chat-api"])
    assert one == [("injection_phrase", sum(c.injected for c in data.in_range(service="chat-api")))]


def test_failing_pass_fail_checks_are_counted_by_the_judges_category(seeded):
    _, _, data = seeded
    panel = panel_by_title("quality.json", "Failing pass/fail checks by category")
    _, _, rows = run(seeded, panel["targets"][0]["rawSql"])
    got = {(m, c): n for m, c, n in rows if m == SAFETY_METRIC}
    want = Counter((e.metric, e.category) for e in data.evals_in_range(metric=SAFETY_METRIC) if not e.passed)
    assert got == dict(want) and len(want) == len(HARM_CATEGORIES)


def test_failing_answers_table_lists_lowest_scores_first_with_trace_links(seeded):
    _, _, data = seeded
    panel = panel_by_title("quality.json", "Failing answers (lowest scores first)")
    names, _, rows = run(seeded, panel["targets"][0]["rawSql"])
    scores = [r[names.index("Score")] for r in rows]
    assert scores == sorted(scores) and all(s < THRESHOLD for s in scores)
    assert len(rows) == min(100, sum(e.passed == 0 for e in data.evals_in_range()))
    lowest = sorted(e.score for e in data.evals_in_range() if not e.passed)[: len(rows)]
    assert scores == lowest
    link = panel["fieldConfig"]["overrides"][-1]["properties"][0]["value"][0]["url"]
    assert "/d/llmsight-trace/" in link and "var-trace_id=${__value.raw}" in link


def test_sampled_requests_show_prompt_and_scores(seeded):
    names, _, rows = run(seeded, panel_by_title("quality.json", "Sampled requests with scores")["targets"][0]["rawSql"])
    assert rows
    for r in rows:
        row = dict(zip(names, r, strict=True))
        assert row["prompt"].startswith("question ") and "=" in row["scores"] and row["TraceId"]


def test_trace_dashboard_shows_the_whole_trace_and_its_calls(seeded):
    _, _, data = seeded
    trace_id = data.evals_in_range()[0].call.trace_id
    names, _, rows = run(seeded, panel_by_title("trace.json", "Trace")["targets"][0]["rawSql"], trace_id=trace_id)
    assert len(rows) == data.span_count_by_trace[trace_id]
    assert {r[names.index("traceID")] for r in rows} == {trace_id}
    names, _, rows = run(seeded, panel_by_title("trace.json", "LLM calls in this trace")["targets"][0]["rawSql"],
                         trace_id=trace_id)
    want = [c for c in data.calls if c.trace_id == trace_id]
    assert sorted(r[names.index("SpanId")] for r in rows) == sorted(c.span_id for c in want)
    assert all(r[names.index("Prompt")].startswith("question") for r in rows)
    for r in rows:
        span = r[names.index("SpanId")]
        want = sorted(f"{e.metric}={e.score if e.score is not None else e.status}"
                      for e in data.evaluations if e.call.span_id == span)
        assert r[names.index("scores")].split() == want
    # an id with a quote cannot break out of the string literal
    _, _, rows = run(seeded, panel_by_title("trace.json", "Trace")["targets"][0]["rawSql"], trace_id="x' OR '1'='1")
    assert rows == []


@pytest.mark.parametrize("label,attr", [("Prompt", "input_tokens"), ("Completion", "output_tokens")])
def test_token_distribution_buckets_count_calls_with_tokens_only(seeded, label, attr):
    """Failed calls report 0 tokens; they used to form a bucket labelled "0--1"."""
    _, _, data = seeded
    _, _, rows = run(seeded, panel_by_title("usage.json", f"{label} tokens distribution")["targets"][0]["rawSql"])
    want: Counter[str] = Counter()
    for c in data.in_range():
        n = getattr(c, attr)
        if n > 0:
            lo = 1 << (n.bit_length() - 1)  # the power of two at or below n
            want["1" if lo == 1 else f"{lo}-{lo * 2 - 1}"] += 1
    assert any(getattr(c, attr) == 0 for c in data.in_range())  # the seed has calls without tokens
    assert dict(rows) == dict(want)
    assert [int(bucket.split("-")[0]) for bucket, _ in rows] == sorted(int(b.split("-")[0]) for b in want)
