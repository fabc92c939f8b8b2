"""`llmsight monitor run` as cron, CI and a worker use it: its own process on an embedded store, a real judge
over HTTP, exit codes that say whether a target was missed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from evaluator.fake_judge import FakeJudge, reply_json

REPO = Path(__file__).resolve().parents[2]
MONITORS = """
monitors:
  - name: shop-ok
    target: {service: shop}
    schedule: {every: 10s}
    lookback: 1h
    min_samples: 3
    signals: {quality: {sample_rate: 1, metrics: {coherence: {threshold: 3}}}}
  - name: shop-strict
    target: {service: shop}
    lookback: 1h
    min_samples: 3
    signals: {quality: {sample_rate: 1, metrics: {coherence: {threshold: 4}}}}
"""
SEED = (
    "import sys; sys.path.insert(0, 'tests');"
    "from evaluator.spans import Call, insert_calls;"
    "from llmsight.store.client import open_client; from llmsight.store.schema import init_schema;"
    "from llmsight.store.url import parse_store_url;"
    "store = parse_store_url(sys.argv[1]); init_schema(open_client(store, database=False), store);"
    "insert_calls(open_client(store), [Call(service='shop', age_s=120 + i) for i in range(4)])"
)


@pytest.fixture
def workdir(tmp_path: Path):
    store = f"chdb://{tmp_path}/clickhouse"
    subprocess.run([sys.executable, "-c", SEED, store], cwd=REPO, check=True, timeout=120)
    (tmp_path / "llmsight.yaml").write_text(MONITORS)
    with FakeJudge(default=reply_json(3)) as judge:
        env = {
            **os.environ,
            "LLMSIGHT_CLICKHOUSE_URL": store,
            "LLMSIGHT_JUDGE_MODEL": "judge-test",
            "LLMSIGHT_JUDGE_BASE_URL": judge.base_url,
            "LLMSIGHT_JUDGE_API_KEY": "k",
            "COLUMNS": "200",
        }
        yield tmp_path, env


def monitor(workdir, *args: str) -> subprocess.CompletedProcess[str]:
    cwd, env = workdir
    command = [sys.executable, "-m", "llmsight.cli.main", "monitor", "run", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_run_once_exit_codes(workdir) -> None:
    ok = monitor(workdir, "--once", "shop-ok")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "shop-ok" in ok.stdout and "pass_rate" in ok.stdout and "shop-strict" not in ok.stdout
    strict = monitor(workdir, "--once", "shop-strict")  # the same four scores of 3 against threshold 4
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "violation" in strict.stdout
    missing = monitor(workdir, "--once", "nope")
    assert missing.returncode == 2 and "no monitor named nope" in missing.stderr


def test_worker_runs_monitors_on_their_schedules(workdir) -> None:
    cwd, env = workdir
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmsight.cli.main", "monitor", "run", "shop-ok"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = ""
        deadline = time.monotonic() + 120
        while "pass_rate" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "running 1 monitor(s)" in seen and "pass_rate" in seen, seen
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
