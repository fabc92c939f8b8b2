"""`evaluate --dry-run` without a judge plans what a real run would do; `evaluate` beside a running serve says
what that serve really does (its judge and interval, read from the serve.json it wrote)."""

from __future__ import annotations

import os
import re

import pytest
import typer
from typer.testing import CliRunner

from llmsight.cli.common import console
from llmsight.cli.evaluate import evaluate
from llmsight.settings import Settings
from tests.conftest import free_port

from .spans import Call, insert_calls

app = typer.Typer()
app.command("evaluate")(evaluate)
app.command("other")(lambda: None)  # two commands, so typer keeps the command name on the command line
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("LLMSIGHT_", "OPENAI_")):
            monkeypatch.delenv(name)
    # 80 columns: the summary table must fit a default terminal. rich fixes a console's width for good when
    # COLUMNS is set at its creation (import); unfixed, it reads the COLUMNS set here.
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "_width", None)


def evaluate_cli(*args: str):
    return runner.invoke(app, ["evaluate", *args])


def planned(output: str) -> int:
    match = re.search(r"judge calls planned\D*(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_dry_run_without_a_judge_skips_what_the_last_judge_already_scored(store_url, store_client, judge_server):
    insert_calls(store_client, [Call(answer=f"answer {i}") for i in range(3)])
    common = ("--sample-rate", "1", "--metrics", "coherence,fluency", "--clickhouse-url", store_url)

    before = evaluate_cli("--dry-run", *common)
    assert before.exit_code == 0, before.output
    assert planned(before.output) == 6
    assert "planned for judge" in before.output and "gpt-4o-mini (default: no judge set)" in before.output
    cost = re.search(r"judge cost\D*~\$([\d.]+) at gpt-4o-mini prices", before.output)
    assert cost and float(cost.group(1)) > 0, before.output  # priced, not "unknown"

    run = evaluate_cli("--once", "--judge-model", "judge-x", "--judge-base-url", judge_server.base_url, *common)
    assert run.exit_code == 0, run.output
    assert len(judge_server.requests) == 6

    after = evaluate_cli("--dry-run", *common)
    assert after.exit_code == 0, after.output
    assert planned(after.output) == 0  # a real run with judge-x would judge nothing: all done
    assert "judge-x (this store's last judge)" in after.output
    assert "sampled calls with work left" in after.output and re.search(r"work left\D*0\b", after.output)
    assert len(judge_server.requests) == 6  # the dry runs called nothing

    other = evaluate_cli("--dry-run", "--judge-model", "judge-y", *common)  # naming a judge plans for that one
    assert planned(other.output) == 6
    assert "no price for 'judge-y'" in other.output


def test_serve_file_tells_evaluate_the_real_judge_and_interval(store_url, store_client, tmp_path):
    """A real collector writes serve.json; evaluate --once is refused naming serve's judge and interval (not its
    own defaults), and --dry-run, reading through serve's query endpoint, plans for serve's judge."""
    from llmsight.cli.common import serve_file
    from llmsight.collector.server import Collector

    insert_calls(store_client, [Call(answer=f"answer {i}") for i in range(2)])
    settings = Settings(
        clickhouse_url=store_url,
        http_port=free_port(),
        grpc_port=free_port(),
        query_port=free_port(),
        spool_dir=str(tmp_path / "spool"),
        judge_model="judge-of-serve",
        evaluate_interval_s=300,
    )
    marker = serve_file(settings)
    collector = Collector(settings, serve_file=marker).start_in_thread()
    try:
        refused = evaluate_cli("--once", "--judge-model", "m", "--judge-base-url", "http://127.0.0.1:1/v1",
                               "--clickhouse-url", store_url)  # fmt: skip
        assert refused.exit_code == 2 and "Traceback" not in refused.output
        message = " ".join(refused.output.split())
        assert "judging with judge-of-serve every 300s" in message, message
        assert "every 60s" not in message

        dry = evaluate_cli("--dry-run", "--sample-rate", "1", "--metrics", "fluency", "--clickhouse-url", store_url)
        assert dry.exit_code == 0, dry.output
        assert "judge-of-serve (serve's judge)" in dry.output
        assert planned(dry.output) == 2
    finally:
        collector.stop_thread()
    assert not marker.exists()


def test_serve_without_a_judge_says_so(store_url):
    import json

    from llmsight.cli.common import serve_file
    from llmsight.store.url import parse_store_url

    marker = serve_file(Settings(clickhouse_url=store_url))
    marker.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "store_path": parse_store_url(store_url).path,
                "query_url": "http://127.0.0.1:1",
                "evaluator": {"judge_model": "", "interval_s": 60.0},
            }
        )
    )
    try:
        result = evaluate_cli("--once", "--judge-model", "m", "--judge-base-url", "http://127.0.0.1:1/v1",
                              "--clickhouse-url", store_url)  # fmt: skip
    finally:
        marker.unlink()
    message = " ".join(result.output.split())
    assert result.exit_code == 2 and "started without one" in message and "LLMSIGHT_JUDGE_MODEL" in message
