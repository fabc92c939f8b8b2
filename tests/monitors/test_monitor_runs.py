"""Monitor runs end to end: calls in the real schema, a real judge over HTTP (the openai client to a fake
server on 127.0.0.1), results in monitor_results, and webhooks to a real HTTP receiver."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from evaluator.fake_judge import FakeJudge, error, reply_json
from evaluator.spans import Call, insert_calls

from llmsight.evaluator.config import EvaluatorConfig
from llmsight.monitors.loader import parse_monitor_text
from llmsight.monitors.notify import Dispatcher
from llmsight.monitors.runner import JudgeSettings, judge_window, run_monitor

UTC = dt.timezone.utc


@pytest.fixture
def judge() -> Iterator[FakeJudge]:
    with FakeJudge() as server:
        server.when("ANSWER-GOOD", reply_json(5))
        server.when("ANSWER-MEDIUM", reply_json(3))
        server.when("ANSWER-DOWN", error(500, "judge is down"))
        yield server


def base_config() -> EvaluatorConfig:
    return EvaluatorConfig(
        timeout_s=2.0, max_retries=0, backoff_s=0.01, max_calls_per_hour=0, emit_events=False, concurrency=2
    )


def monitors_file(receiver_url: str) -> str:
    return f"""
channels:
  hook: {{type: webhook, url: "{receiver_url}"}}
monitors:
  - name: shop-quality
    target: {{service: shop}}
    lookback: 1h
    min_samples: 3
    signals:
      quality:
        sample_rate: 1
        metrics: {{coherence: {{threshold: 3, pass_rate_min: 0.7}}}}
    notify: {{channels: [hook], repeat_interval: 2h}}
  - name: bank-quality
    target: {{service: bank}}
    lookback: P1D
    min_samples: 3
    signals:
      quality:
        sample_rate: 1
        metrics: {{coherence: {{threshold: 4, pass_rate_min: 0.7, average_min: 3.5}}}}
    notify: {{channels: [hook], repeat_interval: 2h}}
  - name: quiet
    target: {{service: shop}}
    lookback: 1h
    min_samples: 50
    signals:
      quality: {{sample_rate: 1, metrics: [coherence]}}
    notify: {{channels: [hook]}}
"""


def run(monitor, client, database, judge_server, at, dispatcher):
    return run_monitor(
        monitor,
        client,
        database,
        run_at=at,
        judge=JudgeSettings("gpt-4o-mini", judge_server.base_url, "test-key"),
        judging=judge_window(client, database, base_config()),
        submit=dispatcher.submit,
    )


def test_only_the_monitor_below_its_target_fires_and_it_resolves_once(store_client, judge, receiver):
    receiver = receiver()
    database = store_client.database
    insert_calls(
        store_client,
        [Call(service=s, answer="ANSWER-MEDIUM is Paris.", age_s=300 + i) for s in ("shop", "bank") for i in range(4)],
    )
    file = parse_monitor_text(monitors_file(receiver.url))
    now = dt.datetime.now(UTC)
    with Dispatcher(file.channels) as dispatcher:
        shop = run(file.monitor("shop-quality"), store_client, database, judge, now, dispatcher)
        bank = run(file.monitor("bank-quality"), store_client, database, judge, now, dispatcher)
        quiet = run(file.monitor("quiet"), store_client, database, judge, now, dispatcher)
        assert dispatcher.flush(10)
    states = {(r.signal, r.statistic): (r.state, r.value, r.sample_count) for r in shop.results}
    assert states[("quality", "pass_rate")] == ("ok", 1.0, 4)  # score 3 passes shop's threshold 3
    bank_states = {(r.signal, r.statistic): (r.state, r.value) for r in bank.results}
    assert bank_states[("quality", "pass_rate")] == ("violation", 0.0)  # 3 < bank's threshold 4
    assert bank_states[("quality", "average_score")] == ("violation", 3.0)
    assert bank_states[("judge_health", "judge_errors")] == ("ok", 0.0)
    assert bank_states[("judge_health", "coverage")] == ("ok", 1.0)
    assert {r.statistic: r.state for r in quiet.results if r.signal == "quality"} == {"pass_rate": "insufficient_data"}

    # Only bank fired: one webhook per violated statistic, naming monitor, value, target and the worst samples.
    assert sorted((b["monitor"], b["statistic"], b["kind"]) for b in receiver.bodies) == [
        ("bank-quality", "average_score", "violation"),
        ("bank-quality", "pass_rate", "violation"),
    ]
    body = next(b for b in receiver.bodies if b["statistic"] == "pass_rate")
    assert (body["value"], body["target"], body["comparison"], body["sample_count"]) == (0.0, 0.7, ">=", 4)
    assert len(body["worst"]) == 3 and all(len(w["trace_id"]) == 32 for w in body["worst"])

    stored = store_client.query(
        f"SELECT Monitor, Statistic, State, Notified FROM `{database}`.monitor_results "
        "WHERE Signal = 'quality' ORDER BY Monitor, Statistic"
    ).result_rows
    assert stored == [
        ("bank-quality", "average_score", "violation", "violation"),
        ("bank-quality", "pass_rate", "violation", "violation"),
        ("quiet", "pass_rate", "insufficient_data", ""),
        ("shop-quality", "pass_rate", "ok", ""),
    ]

    # Each score is stored with the per-call threshold of the monitor that judged it (the dashboards read it).
    thresholds = store_client.query(
        f"SELECT ServiceName, groupUniqArray(Threshold) FROM `{database}`.evaluations GROUP BY ServiceName ORDER BY 1"
    ).result_rows
    assert thresholds == [("bank", [4.0]), ("shop", [3.0])]

    # Coverage counts the sampled calls that have a verdict: a monitor sampling half of shop's calls, all of
    # them judged, is covered 100%, with its half as the sample count (not all judged calls over its sample).
    from llmsight.monitors import signals
    from llmsight.monitors.schedule import window_for

    shop_monitor = file.monitor("shop-quality")
    half = shop_monitor.model_copy(
        update={"signals": shop_monitor.signals.model_copy(
            update={"quality": shop_monitor.signals.quality.model_copy(update={"sample_rate": 0.5})})}
    )  # fmt: skip
    coverage = next(
        r for r in signals.judge_health(half, store_client, database, window_for(half, now), "gpt-4o-mini")
        if r.statistic == "coverage"
    )
    sampled = int(store_client.command(
        f"SELECT count() FROM `{database}`.llm_calls WHERE ServiceName = 'shop' AND cityHash64(SpanId) % 10000 < 5000"
    ))  # fmt: skip
    assert (coverage.value, coverage.sample_count) == (1.0 if sampled else None, sampled)

    # Within the repeat interval an ongoing violation is not sent again; after it, it is.
    bank_monitor = file.monitor("bank-quality")
    with Dispatcher(file.channels) as dispatcher:
        run(bank_monitor, store_client, database, judge, now + dt.timedelta(hours=1), dispatcher)
        assert dispatcher.flush(10)
        assert len(receiver.bodies) == 2
        run(bank_monitor, store_client, database, judge, now + dt.timedelta(hours=2, minutes=1), dispatcher)
        assert dispatcher.flush(10)
        assert len(receiver.bodies) == 4

    # The target is lowered (same monitor name): the next run is ok and sends one "resolved" per statistic.
    relaxed = parse_monitor_text(
        monitors_file(receiver.url).replace(
            "threshold: 4, pass_rate_min: 0.7, average_min: 3.5", "threshold: 3, average_min: 2"
        )
    )
    with Dispatcher(relaxed.channels) as dispatcher:
        later = now + dt.timedelta(hours=3)
        run(relaxed.monitor("bank-quality"), store_client, database, judge, later, dispatcher)
        run(relaxed.monitor("bank-quality"), store_client, database, judge, later + dt.timedelta(hours=1), dispatcher)
        assert dispatcher.flush(10)
    resolved = [b for b in receiver.bodies if b["kind"] == "resolved"]
    assert sorted(b["statistic"] for b in resolved) == ["average_score", "pass_rate"]


def test_a_judge_that_answers_500_fires_judge_health(store_client, judge, receiver):
    receiver = receiver()
    database = store_client.database
    insert_calls(store_client, [Call(service="shop", answer="ANSWER-DOWN today", age_s=200 + i) for i in range(3)])
    file = parse_monitor_text(monitors_file(receiver.url))
    with Dispatcher(file.channels) as dispatcher:
        result = run(file.monitor("shop-quality"), store_client, database, judge, dt.datetime.now(UTC), dispatcher)
        assert dispatcher.flush(10)
    health = {r.statistic: (r.state, r.value) for r in result.results if r.signal == "judge_health"}
    assert health == {"judge_errors": ("violation", 1.0), "coverage": ("violation", 0.0)}
    assert {r.statistic: r.state for r in result.results if r.signal == "quality"} == {"pass_rate": "insufficient_data"}
    assert sorted(b["statistic"] for b in receiver.bodies) == ["coverage", "judge_errors"]


def test_a_run_the_store_cannot_keep_sends_nothing(store_client, judge, receiver):
    """A failed write (here: a table that lost a column) must not notify, or a full disk would repeat it every run."""
    receiver = receiver()
    database = store_client.database
    calls = [Call(service="bank", answer="ANSWER-MEDIUM is Paris.", age_s=300 + i) for i in range(4)]
    insert_calls(store_client, calls)
    store_client.command(f"ALTER TABLE `{database}`.monitor_results DROP COLUMN WorstTraceIds")
    file = parse_monitor_text(monitors_file(receiver.url))
    with Dispatcher(file.channels) as dispatcher:
        with pytest.raises(Exception, match="WorstTraceIds"):
            run(file.monitor("bank-quality"), store_client, database, judge, dt.datetime.now(UTC), dispatcher)
        assert dispatcher.flush(10)
    assert receiver.requests == []
