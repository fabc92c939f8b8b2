"""A judge outage is loud: evaluate exits 1, serve warns without -v, /healthz says the judge is failing."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx2 as httpx
import pytest

from llmsight.collector.server import Collector
from llmsight.evaluator.config import EvaluatorConfig
from llmsight.evaluator.health import JudgeHealth
from llmsight.evaluator.worker import RunSummary, run_evaluator_once
from llmsight.settings import Settings
from tests.collector.otlp_bodies import chat_span_request
from tests.collector.serve_process import start_serve
from tests.conftest import free_port

from .fake_judge import FakeJudge, error, reply_json
from .spans import Call, insert_calls
from .test_cli import run

pytestmark = pytest.mark.usefixtures("cli_env")  # no LLMSIGHT_* / OPENAI_* from this shell

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def flat(output: str) -> str:
    """Output with rich's line wrapping undone (it wraps at the test terminal's width)."""
    return " ".join(output.split())


def evaluate_once(store_url: str, base_url: str):
    return run("evaluate", "--once", "--sample-rate", "1", "--metrics", "fluency", "--judge-model", "judge-x",
               "--judge-base-url", base_url, "--clickhouse-url", store_url)  # fmt: skip


# --- llmsight evaluate ---


def test_evaluate_exits_1_when_the_judge_answers_500(store_url, store_client, judge_server, monkeypatch):
    insert_calls(store_client, [Call(answer=f"answer {i}") for i in range(3)])
    judge_server.default = error(500, "judge overloaded, try later")
    monkeypatch.setenv("LLMSIGHT_JUDGE_MAX_RETRIES", "0")
    result = evaluate_once(store_url, judge_server.base_url)
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "parse errors / judge errors" in out  # the table still comes first
    assert "error: no call could be judged: 3 of 3 judge calls failed" in out
    assert "judge overloaded, try later" in out  # what failed
    assert f"LLMSIGHT_JUDGE_BASE_URL ({judge_server.base_url})" in out  # what to check
    assert "Traceback" not in out


def test_evaluate_exits_1_when_the_judge_port_is_closed(store_url, store_client, monkeypatch):
    insert_calls(store_client, [Call()])
    monkeypatch.setenv("LLMSIGHT_JUDGE_MAX_RETRIES", "0")
    result = evaluate_once(store_url, f"http://127.0.0.1:{free_port()}/v1")
    assert result.exit_code == 1, result.output
    out = flat(result.output)
    assert "judge connection failed" in out and "LLMSIGHT_JUDGE_MODEL (judge-x)" in out


def test_evaluate_exits_0_with_a_working_judge_or_nothing_to_judge(store_url, store_client, judge_server):
    nothing = evaluate_once(store_url, judge_server.base_url)
    assert nothing.exit_code == 0, nothing.output
    assert judge_server.requests == []
    insert_calls(store_client, [Call()])
    judged = evaluate_once(store_url, judge_server.base_url)
    assert judged.exit_code == 0, judged.output
    assert "1 (1)" in judged.output and "no call could be judged" not in judged.output


# --- JudgeHealth ---


def failed_run(error_text: str = "judge returned 500 after 1 attempts: down") -> RunSummary:
    return RunSummary(candidates=2, planned=2, judge_errors=2, last_error=error_text)


def judged_run() -> RunSummary:
    return RunSummary(candidates=2, planned=2, scored=1, passed=1, judge_errors=1, last_error="one flaky call")


def test_status_before_any_run():
    health = JudgeHealth()
    assert health.status()["status"] == "unconfigured"
    health.configure("judge-x")
    assert health.status() == {
        "status": "idle", "judge_model": "judge-x", "last_run_at": None, "last_success_at": None,
        "last_failure_at": None, "failing_since": None, "consecutive_failed_runs": 0, "last_error": "",
    }  # fmt: skip


def test_warns_at_once_then_every_10_minutes_then_once_on_recovery(caplog):
    health = JudgeHealth()
    health.configure("judge-x", "http://judge.local/v1")
    caplog.set_level(logging.WARNING, logger="llmsight")

    def warnings() -> list[str]:
        lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        caplog.clear()
        return lines

    health.record(failed_run("first error"), now=T0)
    (first,) = warnings()
    assert "'judge-x' at http://judge.local/v1 is failing" in first and "first error" in first
    assert "LLMSIGHT_JUDGE_BASE_URL" in first
    for minute in range(1, 10):  # still failing, but warned less than 10 minutes ago
        health.record(failed_run(), now=T0 + timedelta(minutes=minute))
    assert warnings() == []
    health.record(failed_run("latest error"), now=T0 + timedelta(minutes=10))
    (again,) = warnings()
    assert "still failing, for 10m" in again and "11 runs" in again and "latest error" in again
    health.record(failed_run("error at 15m"), now=T0 + timedelta(minutes=15))
    assert warnings() == []
    state = health.status()
    assert state["status"] == "failing" and state["consecutive_failed_runs"] == 12
    assert state["failing_since"] == T0.isoformat() and state["last_success_at"] is None

    health.record(judged_run(), now=T0 + timedelta(minutes=16))  # partly judged: the judge works
    (recovered,) = warnings()
    assert "recovered after failing for 16m" in recovered
    health.record(judged_run(), now=T0 + timedelta(minutes=17))
    assert warnings() == []  # recovery is said once
    state = health.status()
    assert (state["status"], state["consecutive_failed_runs"], state["failing_since"]) == ("ok", 0, None)
    assert state["last_error"] == "error at 15m"  # kept for whoever looks at the last outage

    health.record(failed_run("new outage"), now=T0 + timedelta(minutes=18))
    (new,) = warnings()
    assert "is failing" in new and "new outage" in new  # a new outage warns at once


def test_runs_that_did_not_ask_the_judge_change_nothing():
    health = JudgeHealth()
    health.record(failed_run(), now=T0)
    health.record(RunSummary(), now=T0 + timedelta(minutes=1))  # nothing to judge
    capped = RunSummary(candidates=3, planned=3, deferred=3, stopped="hourly judge-call cap of 1 reached")
    health.record(capped, now=T0 + timedelta(minutes=2))  # the cap stopped it before any call
    not_applicable = RunSummary(candidates=1, not_applicable=1)
    health.record(not_applicable, now=T0 + timedelta(minutes=3))
    state = health.status()
    assert (state["status"], state["consecutive_failed_runs"]) == ("failing", 1)
    assert state["last_run_at"] == (T0 + timedelta(minutes=3)).isoformat()


def test_concurrent_records_are_all_counted():
    health = JudgeHealth()

    def fail_100() -> None:
        for _ in range(100):
            health.record(failed_run())

    threads = [threading.Thread(target=fail_100) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert health.status()["consecutive_failed_runs"] == 800


def test_watch_records_a_rejected_key_as_a_failed_run(store_url, store_client, judge_server, caplog):
    """A 401 ends the run with JudgeFatalError; the watched job records it and warns instead of raising."""
    insert_calls(store_client, [Call()])
    judge_server.default = error(401, "invalid api key")
    cfg = EvaluatorConfig(judge_model="judge-x", judge_base_url=judge_server.base_url, sample_rate=1.0,
                          metrics=("fluency",))  # fmt: skip
    health = JudgeHealth()
    health.configure("judge-x", judge_server.base_url)
    job = health.watch(lambda: run_evaluator_once(cfg, store_url))
    with caplog.at_level(logging.WARNING, logger="llmsight"):
        job()
    state = health.status()
    assert state["status"] == "failing" and "LLMSIGHT_JUDGE_API_KEY" in state["last_error"]
    assert any("is failing" in r.getMessage() for r in caplog.records)


def test_collector_health_is_degraded_while_a_component_fails():
    health = JudgeHealth()
    settings = Settings(clickhouse_url="chdb:///nonexistent/never-opened")
    collector = Collector(settings, extra_health={"judge": health.status})
    assert collector.health()["status"] == "ok" and collector.health()["judge"]["status"] == "unconfigured"
    health.record(failed_run(), now=T0)
    state = collector.health()
    assert state["status"] == "degraded" and state["judge"]["status"] == "failing"

    def broken() -> dict:
        raise RuntimeError("boom")

    assert Collector(settings, extra_health={"x": broken}).health() == {
        "status": "ok", "x": {"status": "unknown", "error": "RuntimeError: boom"}
    }  # fmt: skip


# --- serve ---


class Lines:
    """Everything a pipe of a running process has written so far, read by a thread (no blocking reads)."""

    def __init__(self, pipe) -> None:
        self._chunks: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for line in iter(pipe.readline, b""):
            self._chunks.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self._chunks)


def test_serve_warns_without_v_and_healthz_says_the_judge_is_failing(tmp_path: Path):
    with FakeJudge(default=error(500, "judge is down for maintenance")) as judge:
        env = {
            "LLMSIGHT_INGEST_TOKENS": "op-token",
            "LLMSIGHT_JUDGE_MODEL": "judge-outage",
            "LLMSIGHT_JUDGE_BASE_URL": judge.base_url,
            "LLMSIGHT_JUDGE_API_KEY": "k",
            "LLMSIGHT_JUDGE_MAX_RETRIES": "0",
            "LLMSIGHT_SAMPLE_RATE": "1",
            "LLMSIGHT_EVALUATOR_METRICS": "fluency",
            "LLMSIGHT_EVALUATE_INTERVAL_S": "0.3",
            "LLMSIGHT_BATCH_TIMEOUT_MS": "20",
        }
        serve = start_serve(tmp_path, env, stderr=subprocess.PIPE)  # no -v
        stderr, stdout = Lines(serve.proc.stderr), Lines(serve.proc.stdout)
        token = {"Authorization": "Bearer op-token"}

        def health(headers: dict[str, str] | None = None) -> dict:
            response = httpx.get(f"{serve.http}/healthz", headers=headers, timeout=5)
            assert response.status_code == 200  # degraded, but data is still accepted
            return response.json()

        try:
            assert health(token)["judge"]["status"] == "idle"
            sent = httpx.post(
                f"{serve.http}/v1/traces",
                content=chat_span_request(2, service="outage").SerializeToString(),
                headers={"Content-Type": "application/x-protobuf", **token},
            )
            assert sent.status_code == 200
            wait_for(lambda: "is failing" in stderr.text, "serve's judge warning on stderr")
            warning = next(line for line in stderr.text.splitlines() if "is failing" in line)
            assert "llmsight.evaluator" in warning and "'judge-outage'" in warning
            assert "judge is down for maintenance" in warning and "LLMSIGHT_JUDGE_BASE_URL" in warning
            assert "evaluator: 0 scored" not in stderr.text  # INFO stays quiet without -v

            assert health() == {"status": "degraded"}  # without a token: the status only
            detail = health(token)
            assert detail["status"] == "degraded" and detail["judge"]["status"] == "failing"
            assert detail["judge"]["consecutive_failed_runs"] >= 1
            assert "judge is down for maintenance" in detail["judge"]["last_error"]

            judge.default = reply_json(4)  # the judge comes back; judge_error rows are retried
            wait_for(lambda: "recovered" in stderr.text, "serve's judge recovery line on stderr")
            assert health() == {"status": "ok"}
            assert health(token)["judge"]["status"] == "ok"
        finally:
            serve.stop()
        assert stderr.text.count("is failing") == 1, stderr.text  # not once a run
        assert "Traceback" not in stderr.text, stderr.text
        assert "llmsight collector" in stdout.text

