"""`serve` runs its background jobs in the collector's process: prices, and the evaluator when a judge is set."""

from __future__ import annotations

import time

import httpx2 as httpx

from llmsight.cli.serve import background_jobs
from llmsight.collector.server import Collector
from llmsight.settings import Settings
from tests.collector.otlp_bodies import chat_span_request
from tests.conftest import free_port
from tests.evaluator.fake_judge import FakeJudge, reply_json


def test_serve_scores_calls_on_a_schedule_with_a_judge(store_url, store_client):
    with FakeJudge(default=reply_json(5)) as judge:
        settings = Settings(
            clickhouse_url=store_url,
            http_port=free_port(),
            grpc_port=free_port(),
            query_port=0,
            batch_timeout_ms=20,
            judge_model="judge-test",
            judge_base_url=judge.base_url,
            judge_api_key="k",
            sample_rate=1.0,
            evaluate_interval_s=0.5,
        )
        jobs = background_jobs(settings)
        assert len(jobs) == 3  # prices, judging for the monitors, the monitor scheduler
        collector = Collector(settings, jobs=jobs).start_in_thread()
        try:
            response = httpx.post(
                f"{collector.endpoints.http}/v1/traces",
                content=chat_span_request(3, service="scheduled").SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert response.status_code == 200
            deadline = time.monotonic() + 60
            scored = 0
            while time.monotonic() < deadline:
                scored = int(
                    store_client.command(
                        "SELECT count() FROM evaluations FINAL WHERE ServiceName = 'scheduled' AND Status = 'ok'"
                    )
                )
                if scored >= 3:
                    break
                time.sleep(0.5)
        finally:
            collector.stop_thread()
    # every sampled call gets its applicable metrics scored, by the judge we configured
    assert scored >= 3
    assert judge.requests and all(r.body["model"] == "judge-test" for r in judge.requests)
    models = store_client.query("SELECT DISTINCT JudgeModel FROM evaluations WHERE ServiceName = 'scheduled'")
    assert models.result_rows == [("judge-test",)]


def test_without_a_judge_prices_and_monitors_run(store_url):
    settings = Settings(clickhouse_url=store_url)
    assert [interval for interval, _ in background_jobs(settings)] == [15.0, 15.0]  # prices, the monitor scheduler


def test_monitors_can_be_left_to_a_worker(store_url):
    settings = Settings(clickhouse_url=store_url, judge_model="judge-test", run_monitors=False)
    assert [interval for interval, _ in background_jobs(settings)] == [15.0]  # prices only
