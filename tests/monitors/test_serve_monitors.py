"""The whole loop in a real `llmsight serve`: spans over OTLP, a judge over HTTP, a monitor on its schedule,
a violation email to a real SMTP server and webhooks to a real receiver, then one "resolved" when it clears,
and `llmsight monitors` reading the results through serve's query endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
from evaluator.fake_judge import FakeJudge, reply_json

from tests.collector.otlp_bodies import chat_span_request
from tests.collector.serve_process import start_serve

MONITORS = """
channels:
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    from: llmsight@example.com
    to: [oncall@example.com]
  hook: {{type: webhook, url: "{hook}"}}
  chat: {{type: webhook, url: "{slack}", format: slack}}
monitors:
  - name: shop-coherence
    target: {{service: shop}}
    schedule: {{every: 10s}}
    lookback: 1h
    min_samples: 3
    signals:
      quality:
        sample_rate: 1
        metrics: {{coherence: {{threshold: 4, pass_rate_min: 0.7}}}}
    notify: {{channels: [mail, hook, chat], repeat_interval: 1d}}
"""


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def send(serve, count: int) -> None:
    body = chat_span_request(count, service="shop").SerializeToString()
    response = httpx.post(
        f"{serve.http}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10
    )
    assert response.status_code == 200


def test_serve_runs_the_monitor_and_a_person_is_told(tmp_path: Path, smtp_server, receiver) -> None:
    mailbox, smtp = smtp_server()
    hook, slack = receiver(), receiver()
    (tmp_path / "llmsight.yaml").write_text(MONITORS.format(smtp_port=smtp.port, hook=hook.url, slack=slack.url))
    with FakeJudge(default=reply_json(2)) as judge:
        env = {
            "LLMSIGHT_JUDGE_MODEL": "judge-test",
            "LLMSIGHT_JUDGE_BASE_URL": judge.base_url,
            "LLMSIGHT_JUDGE_API_KEY": "k",
            "LLMSIGHT_EVALUATE_INTERVAL_S": "1",
        }
        serve = start_serve(tmp_path, env)
        try:
            send(serve, 4)  # four answers the judge scores 2: pass rate 0 < 0.7
            wait_for(lambda: len(mailbox.envelopes) >= 1 and len(hook.requests) >= 1, "the violation notifications")
            message = mailbox.message(0)
            assert message["To"] == "oncall@example.com"
            assert "shop-coherence" in message["Subject"] and "coherence" in message["Subject"]
            text = message.get_content()
            assert "pass_rate" in text and "0.7" in text and "llmsight trace " in text
            violation = hook.bodies[0]
            assert (violation["kind"], violation["monitor"], violation["metric"]) == (
                "violation",
                "shop-coherence",
                "coherence",
            )
            assert (violation["value"], violation["target"], violation["sample_count"]) == (0.0, 0.7, 4)
            assert violation["filters"] == {"service": "shop"}
            wait_for(lambda: len(slack.requests) >= 1, "the Slack-format webhook")
            assert "shop-coherence" in slack.bodies[0]["text"] and slack.bodies[0]["blocks"]

            shown = subprocess.run(
                [sys.executable, "-m", "llmsight.cli.main", "monitors"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "LLMSIGHT_CLICKHOUSE_URL": f"chdb://{tmp_path}/clickhouse", "COLUMNS": "200"},
            )
            assert shown.returncode == 0, shown.stderr
            assert "shop-coherence" in shown.stdout and "violation" in shown.stdout

            # The judge now likes the answers; 20 more calls lift the pass rate to 20/24: one "resolved".
            judge.default = reply_json(5)
            send(serve, 20)
            wait_for(lambda: any(b["kind"] == "resolved" for b in hook.bodies), "the resolved webhook")
            wait_for(lambda: len(mailbox.envelopes) >= 2, "the resolved email")
            assert "resolved" in mailbox.message(1)["Subject"].lower()
            kinds = [b["kind"] for b in hook.bodies]
            assert kinds.count("violation") == 1  # repeat interval 1d: an ongoing violation was not sent again
        finally:
            serve.stop()
        assert serve.proc.returncode == 0
