"""An experiment interrupted halfway and run again: nothing is judged twice and nothing is missing; and a run
while ``llmsight serve`` owns the embedded store goes through serve's collector and query endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response
from typer.testing import CliRunner

from llmsight.cli.main import app
from llmsight.demo.model import DemoModelServer
from tests.experiments.conftest import DATASET

ROWS = sum(1 for line in DATASET.read_text().splitlines() if line.strip())
METRICS = ("groundedness", "relevance")
runner = CliRunner()


class GatedJudge(DemoModelServer):
    """The demo judge, counting requests; after ``open_for`` of them, each waits until ``release()``."""

    def __init__(self, open_for: int) -> None:
        super().__init__()
        self.open_for = open_for
        self.requests = 0
        self.waiting = 0
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    async def _chat(self, request: Request) -> Response:
        import asyncio

        with self._lock:
            self.requests += 1
            gated = self.requests > self.open_for
            self.waiting += gated
        while gated and not self._released.is_set():
            await asyncio.sleep(0.005)
        return await super()._chat(request)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def llmsight(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "llmsight.cli.main", *args], env=env, cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_interrupted_run_is_finished_by_a_rerun_without_judging_anything_twice(tmp_path, cli_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OPENAI_", "OTEL_"))}
    env |= {"LLMSIGHT_CLICKHOUSE_URL": f"chdb://{tmp_path}/store", "COLUMNS": "200"}  # its own store: a process each
    run = ["eval", "run", str(DATASET), "--name", "resumable", "--target", "llmsight.demo.eval_target:answer",
           "--metrics", ",".join(METRICS), "--judge-model", "demo-judge", "--concurrency", "2"]  # fmt: skip
    with GatedJudge(open_for=10) as judge:
        first = llmsight(*run, "--judge-base-url", judge.base_url, env=env, cwd=tmp_path)
        wait_for(lambda: judge.waiting == 2 or first.poll() is not None)  # 10 answered, 2 in flight and held
        assert first.poll() is None, first.communicate()
        first.send_signal(signal.SIGINT)
        time.sleep(0.3)  # let the signal land while the two calls are still held (either order is handled)
        judge.release()
        out, err = first.communicate(timeout=120)
        assert first.returncode == 130, out + err
        assert "interrupted; what was done is stored" in err and "Traceback" not in err
        assert judge.requests == 12  # nothing was asked after the interrupt but what was already in flight

        again = llmsight(*run, "--judge-base-url", judge.base_url, env=env, cwd=tmp_path)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, out + err
        text = " ".join(out.split())
        assert "rows: 0 run now, 22 from before" in text  # the app was not run again either
        assert "judgements: 32 now, 12 from before" in text
        assert judge.requests == ROWS * len(METRICS)  # each (row, metric) judged exactly once over both runs

    report = tmp_path / "gate.json"
    gate = llmsight("eval", "gate", "resumable", "--json", str(report), env=env, cwd=tmp_path)
    out, err = gate.communicate(timeout=120)
    result = json.loads(report.read_text())
    assert result["incomplete"] == [] and result["rows_not_run"] == 0, out + err
    assert {m: s["n"] for m, s in result["metrics"].items()} == {m: ROWS for m in METRICS}


@pytest.mark.usefixtures("eval_env")
def test_a_run_while_serve_owns_the_store_goes_through_serve(store_url, store_client, tmp_path):
    from llmsight.collector.server import Collector
    from llmsight.settings import Settings
    from tests.conftest import free_port

    settings = Settings(
        clickhouse_url=store_url, http_port=free_port(), grpc_port=free_port(), query_port=free_port(),
        batch_timeout_ms=20, spool_dir=str(tmp_path / "serve-spool"),
    )  # fmt: skip
    serve = Collector(settings, serve_file=settings.data_dir / "serve.json").start_in_thread()
    try:
        small = tmp_path / "small.jsonl"
        small.write_text("".join(DATASET.read_text().splitlines(keepends=True)[:3]))
        result = runner.invoke(
            app,
            ["eval", "run", str(small), "--name", "through-serve", "--target", "llmsight.demo.eval_target:answer",
             "--metrics", "relevance"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"via llmsight serve (pid {os.getpid()})" in result.output
        compared = runner.invoke(app, ["eval", "gate", "through-serve"])
        assert compared.exit_code == 0, compared.output
    finally:
        serve.stop_thread()
    assert serve.telemetry  # the run's spans came in through serve's receiver
    stored = store_client.query(
        "SELECT count() FROM experiment_evaluations FINAL WHERE Metric = 'relevance' AND ServiceName = 'llmsight-eval'"
    ).result_rows
    assert stored == [(3,)]
