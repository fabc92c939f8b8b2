"""Drift between two windows: a seeded, known shift is flagged; two windows drawn alike are not."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from llmsight.evaluator.drift import compare
from llmsight.queries import Filters

from .spans import Call, insert_calls

DAY = 86400
N = 300  # calls per window


def calls(rng: random.Random, service: str, age: tuple[float, float], tokens: float, gpt4o_share: float,
          answer_words: int) -> list[Call]:
    out = []
    for _ in range(N):
        out.append(Call(
            service=service, age_s=rng.uniform(*age), input_tokens=max(1, int(rng.gauss(tokens, 60))),
            output_tokens=max(1, int(rng.gauss(120, 20))),
            model="gpt-4o" if rng.random() < gpt4o_share else "gpt-4o-mini",
            answer=" ".join(["word"] * max(1, int(rng.gauss(answer_words, 5)))),
        ))  # fmt: skip
    return out


def scores(rows: list[Call], rng: random.Random, mean: float) -> list[list]:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return [[now - dt.timedelta(seconds=c.age_s), c.trace_id, c.span_id, c.service, c.model, "relevance",
             min(5, max(1, round(rng.gauss(mean, 0.7)))), 4.0, "ok", "judge-x", "v1"] for c in rows]


@pytest.fixture
def windows(store_client):
    rng = random.Random(11)
    baseline_age, current_age = (1.2 * DAY, 7.8 * DAY), (60.0, 0.9 * DAY)
    shifted_b = calls(rng, "shifted", baseline_age, 500, 0.1, 40)
    shifted_c = calls(rng, "shifted", current_age, 900, 0.5, 80)
    same_b = calls(rng, "same", baseline_age, 500, 0.1, 40)
    same_c = calls(rng, "same", current_age, 500, 0.1, 40)
    insert_calls(store_client, shifted_b + shifted_c + same_b + same_c)
    rows = [*scores(shifted_b, rng, 4.4), *scores(shifted_c, rng, 2.6), *scores(same_b, rng, 4.4),
            *scores(same_c, rng, 4.4)]
    store_client.insert("evaluations", rows, column_names=["SpanTimestamp", "TraceId", "SpanId", "ServiceName", "Model",
                                                          "Metric", "Score", "Threshold", "Status", "JudgeModel",
                                                          "PromptVersion"])
    now = dt.datetime.now(dt.timezone.utc)
    return (now - dt.timedelta(days=8), now - dt.timedelta(days=1)), (now - dt.timedelta(days=1), now)


def test_a_known_shift_is_flagged_item_by_item(store_client, database, windows):
    baseline, current = windows
    got = {i.item: i for i in compare(store_client, database, baseline, current, Filters(service="shifted"))}
    for item in ("input_tokens", "answer_bytes", "model", "score:relevance"):
        assert got[item].verdict == "shifted", got[item]
        assert (got[item].baseline_n, got[item].current_n) == (N, N)
    assert got["output_tokens"].verdict == "stable"  # drawn alike in both windows
    assert got["outcome"].verdict == "stable"  # no errors in either
    assert got["model"].current.startswith(("gpt-4o 5", "gpt-4o-mini 5", "gpt-4o 4", "gpt-4o-mini 4"))


def test_the_item_names_a_monitor_may_list_are_the_ones_drift_compares(store_client, database, windows):
    from llmsight.evaluator.drift import ITEMS, is_item

    baseline, current = windows
    got = {i.item for i in compare(store_client, database, baseline, current, Filters(service="shifted"))}
    assert set(ITEMS) <= got and all(is_item(name) for name in got)
    assert not is_item("answer_length") and not is_item("score:")


def test_windows_drawn_alike_are_stable(store_client, database, windows):
    baseline, current = windows
    got = {i.item: i for i in compare(store_client, database, baseline, current, Filters(service="same"))}
    assert {i.item: i.verdict for i in got.values()} == {item: "stable" for item in got}
    assert {"input_tokens", "output_tokens", "answer_bytes", "latency_ms", "model", "score:relevance"} <= set(got)


def test_too_few_calls_is_insufficient_data_not_a_verdict(store_client, database, windows):
    baseline, current = windows
    got = compare(store_client, database, baseline, current, Filters(service="same"), min_samples=N + 1)
    assert {i.verdict for i in got} == {"insufficient data"}


def test_an_empty_baseline_is_insufficient_data_not_an_error(store_client, database, windows):
    _, current = windows
    long_ago = (current[0] - dt.timedelta(days=90), current[0] - dt.timedelta(days=60))
    got = compare(store_client, database, long_ago, current, Filters(service="same"))
    assert got and {(i.baseline_n, i.verdict) for i in got} == {(0, "insufficient data")}


# (baseline counts, current counts) per model, with scipy.stats.chi2_contingency(correction=False)'s
# statistic and p-value: the SQL's chi-squared (Wilson-Hilferty p) must agree to about two digits
MIXES = {
    "mix-2": (([50, 50], [64, 36]), 3.998368, 0.045544),
    "mix-3": (([40, 30, 30], [20, 30, 50]), 11.666667, 0.002928),
    "mix-5": (([30, 30, 20, 10, 10], [20, 25, 25, 15, 15]), 5.010101, 0.286263),
}


def test_category_statistics_match_a_reference_computation(store_client, database):
    rows = []
    for service, ((base, cur), _, _) in MIXES.items():
        for counts, ages in ((base, (1.5 * DAY, 6 * DAY)), (cur, (120.0, 0.5 * DAY))):
            for k, n in enumerate(counts):
                rows += [Call(service=service, model=f"model-{k}", age_s=ages[0] + (ages[1] - ages[0]) * i / n)
                         for i in range(n)]  # fmt: skip
    insert_calls(store_client, rows)
    now = dt.datetime.now(dt.timezone.utc)
    baseline, current = (now - dt.timedelta(days=8), now - dt.timedelta(days=1)), (now - dt.timedelta(days=1), now)
    for service, ((base, cur), statistic, pvalue) in MIXES.items():
        got = {i.item: i for i in compare(store_client, database, baseline, current, Filters(service=service))}
        model = got["model"]
        assert (model.baseline_n, model.current_n) == (sum(base), sum(cur))
        assert model.statistic == pytest.approx(statistic, rel=1e-6)
        assert model.pvalue == pytest.approx(pvalue, abs=0.005)
        shares = [(b / sum(base), c / sum(cur)) for b, c in zip(base, cur, strict=True)]
        assert model.psi == pytest.approx(sum((c - b) * math.log(c / b) for b, c in shares), rel=1e-6)
        assert got["outcome"].pvalue == 1.0 and got["outcome"].verdict == "stable"  # one category: nothing to test
    top = compare(store_client, database, baseline, current, Filters(service="mix-3"))
    assert {i.item: i.current for i in top}["model"] == "model-2 50%, model-1 30%, model-0 20%"


def test_the_drift_command_prints_the_table_and_json(store_url, windows, monkeypatch):
    from typer.testing import CliRunner

    from llmsight.cli.main import app

    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    table = runner.invoke(app, ["drift", "--baseline", "7d", "--current", "1d", "--service", "shifted",
                                "--clickhouse-url", store_url])
    assert table.exit_code == 0, table.output
    assert "input_tokens" in table.output and "shifted" in table.output and "KS" in table.output
    data = runner.invoke(app, ["drift", "--service", "same", "--format", "json", "--clickhouse-url", store_url])
    assert data.exit_code == 0, data.output
    import json

    assert {i["verdict"] for i in json.loads(data.output)["items"]} == {"stable"}
    bad = runner.invoke(app, ["drift", "--baseline", "2026-13-01..2026-12-01", "--clickhouse-url", store_url])
    assert bad.exit_code == 2 and "cannot read date" in bad.output and "Traceback" not in bad.output


def test_a_monitor_alerts_on_the_shifted_items_it_watches(store_client, database, windows):
    from llmsight.monitors.config import Monitor
    from llmsight.monitors.runner import compute

    def monitor(service: str) -> Monitor:
        return Monitor.model_validate({
            "name": f"drift-{service}", "target": {"service": service}, "lookback": "1d", "min_samples": 30,
            "signals": {"quality": None,
                        "drift": {"baseline": "7d", "items": ["input_tokens", "output_tokens", "model"]}},
        })  # fmt: skip

    now = dt.datetime.now(dt.timezone.utc)
    shifted = {(r.metric, r.state) for r in compute(monitor("shifted"), store_client, database, now, "").results}
    assert shifted == {("input_tokens", "violation"), ("output_tokens", "ok"), ("model", "violation")}
    same = {(r.metric, r.state) for r in compute(monitor("same"), store_client, database, now, "").results}
    assert same == {("input_tokens", "ok"), ("output_tokens", "ok"), ("model", "ok")}
