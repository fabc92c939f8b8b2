"""The quality dashboard's feedback and drift panels, expanded as Grafana would, on seeded data: the
feedback numbers equal a count over the seeded ratings, and the drift table equals `llmsight drift`'s
comparison (the same question) for the dashboard's range against the baseline variable's days before it."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from llmsight.evaluator.drift import compare

from .test_panel_queries import panel_by_title, run, value

DASH = "quality.json"


def _rows(seeded, title: str, **variables) -> list[dict]:
    names, _, rows = run(seeded, panel_by_title(DASH, title)["targets"][0]["rawSql"], **variables)
    return [dict(zip(names, r, strict=True)) for r in rows]


def test_feedback_stats_count_each_rated_calls_latest_rating(seeded):
    _, _, data = seeded
    latest = data.latest_ratings()
    assert len(latest) > 20 and any(r.after > timedelta(minutes=5) for r in data.ratings)  # mind changes seeded
    assert value(seeded, DASH, "Rated calls") == len(latest)
    assert value(seeded, DASH, "Share of calls rated") == pytest.approx(len(latest) / len(data.in_range()))
    negative = sum(score < 0.5 for score in latest.values())
    assert value(seeded, DASH, "Negative feedback") == pytest.approx(negative / len(latest))
    # a service filter narrows the rated calls to that service's
    chat = {c.span_id for c in data.in_range(service="chat-api")}
    assert value(seeded, DASH, "Rated calls", service=["chat-api"]) == len(latest.keys() & chat)


def test_people_vs_judge_is_the_confusion_matrix_over_calls_with_both(seeded):
    _, _, data = seeded
    latest = data.latest_ratings()
    expected: dict[str, list[int]] = {}
    for e in data.evals_in_range():
        if e.call.span_id in latest:
            judge_fail, person_fail = e.score < e.threshold, latest[e.call.span_id] < 0.5
            cell = {(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[judge_fail, person_fail]
            expected.setdefault(e.metric, [0, 0, 0, 0])[cell] += 1
    rows = _rows(seeded, "People vs the judge")
    got = {r["Metric"]: [r["both fail"], r["judge only"], r["people only"], r["both pass"]] for r in rows}
    assert got == expected and len(got) == 3  # two 1-5 metrics and the pass/fail safety metric
    for r in rows:
        both, flagged, failed = r["both fail"], r["both fail"] + r["judge only"], r["both fail"] + r["people only"]
        assert r["precision"] == (pytest.approx(both / flagged) if flagged else None)
        assert r["recall"] == (pytest.approx(both / failed) if failed else None)


def test_drift_table_is_the_drift_commands_comparison_of_the_range_with_the_baseline(seeded):
    client, database, data = seeded
    rows = _rows(seeded, "Drift against the baseline")
    expected = compare(client, database, (data.time_from - timedelta(days=7), data.time_from),
                       (data.time_from, data.time_to), min_samples=30)  # fmt: skip
    assert [r["Item"] for r in rows] == sorted(
        (i.item for i in expected),
        key=lambda item: (["shifted", "moderate shift", "stable", "insufficient data"].index(
            next(i.verdict for i in expected if i.item == item)), item),
    )  # fmt: skip
    by_item = {r["Item"]: r for r in rows}
    for item in expected:
        row = by_item[item.item]
        assert (row["Verdict"], row["n baseline"], row["n current"]) == (item.verdict, item.baseline_n, item.current_n)
        assert (row["PSI"], row["p"]) == pytest.approx((item.psi, item.pvalue), nan_ok=True) if item.psi is not None \
            else math.isnan(row["PSI"])
    old = [c for c in data.calls if not c.in_range and not c.error]  # the seed's calls 3 days back: the baseline
    assert by_item["input_tokens"]["n baseline"] == len(old) and by_item["input_tokens"]["n current"] == sum(
        1 for c in data.in_range() if not c.error)
    assert by_item["model"]["Test"] == "chi2" and by_item["input_tokens"]["Test"] == "KS"
    # a 1-day baseline ends before the seed's old calls: nothing to compare against
    short = _rows(seeded, "Drift against the baseline", drift_baseline="86400")
    assert short and {(r["n baseline"], r["Verdict"]) for r in short} == {(0, "insufficient data")}
