"""The commands as a person runs them: readable errors, dry run, a real run, the report."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmsight.cli.evaluate import evaluate, report

from .fake_judge import error
from .spans import Call, insert_calls

app = typer.Typer()
app.command("evaluate")(evaluate)
app.command("report")(report)
runner = CliRunner()


pytestmark = pytest.mark.usefixtures("cli_env")


def run(*args: str):
    return runner.invoke(app, list(args))


def test_help_has_examples():
    for command in ("evaluate", "report"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_no_judge_is_a_clear_error_not_a_traceback(store_url):
    result = run("evaluate", "--once", "--clickhouse-url", store_url)
    assert result.exit_code == 2
    assert "LLMSIGHT_JUDGE_MODEL" in result.output and "Traceback" not in result.output
    bad = run("evaluate", "--once", "--metrics", "vibes", "--judge-model", "m", "--clickhouse-url", store_url)
    assert bad.exit_code == 2 and "unknown metric" in bad.output


def test_dry_run_estimates_and_writes_nothing(store_url, store_client, judge_server):
    insert_calls(store_client, [Call() for _ in range(3)])
    result = run("evaluate", "--dry-run", "--sample-rate", "1", "--metrics", "coherence,fluency",
                 "--judge-model", "gpt-4o-mini", "--clickhouse-url", store_url)
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "judge calls planned" in result.output
    assert re.search(r"judge calls planned\D*6\b", result.output)
    assert judge_server.requests == []
    assert int(store_client.command("SELECT count() FROM evaluations")) == 0


def test_run_then_report(store_url, store_client, judge_server, monkeypatch):
    insert_calls(store_client, [Call(answer=f"answer {i}") for i in range(4)])
    judge_server.when("answer 0", error(500, "flaky"))
    monkeypatch.setenv("LLMSIGHT_JUDGE_MAX_RETRIES", "0")
    result = run("evaluate", "--once", "--sample-rate", "1", "--metrics", "fluency", "--judge-model", "judge-x",
                 "--judge-base-url", judge_server.base_url, "--concurrency", "2", "--clickhouse-url", store_url)
    assert result.exit_code == 0, result.output
    assert "scored (passed)" in result.output and "3 (3)" in result.output
    out = run("report", "--last", "1h", "--format", "json", "--clickhouse-url", store_url)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    (m,) = data["metrics"]
    assert (m["metric"], m["scored"], m["judge_errors"], m["pass_rate"]) == ("fluency", 3, 1, 1.0)
    assert data["calls"]["requests"] == 4
    table = run("report", "--last", "1h", "--clickhouse-url", store_url)
    assert table.exit_code == 0 and "fluency" in table.output and "100.0%" in table.output


def test_401_ends_with_the_env_var_to_fix(store_url, store_client, judge_server):
    insert_calls(store_client, [Call()])
    judge_server.default = error(401, "bad key")
    result = run("evaluate", "--once", "--sample-rate", "1", "--judge-model", "m",
                 "--judge-base-url", judge_server.base_url, "--clickhouse-url", store_url)
    assert result.exit_code == 2 and "LLMSIGHT_JUDGE_API_KEY" in result.output


def test_store_owned_by_serve_points_at_serve(store_url):
    from llmsight.settings import Settings
    from llmsight.store.url import parse_store_url

    settings = Settings(clickhouse_url=store_url)
    marker = Path(settings.data_dir) / "serve.json"
    marker.write_text(json.dumps({"pid": os.getpid(), "store_path": parse_store_url(store_url).path,
                                  "query_url": "http://127.0.0.1:1"}))
    try:
        result = run("evaluate", "--once", "--judge-model", "m", "--judge-base-url", "http://127.0.0.1:1/v1",
                     "--clickhouse-url", store_url)
    finally:
        marker.unlink()
    assert result.exit_code == 2 and "llmsight serve" in result.output and "evaluator itself" in result.output


def test_report_shows_monitor_violations_beside_the_scores(store_url, store_client):
    import datetime as dt

    from .test_report import MONITOR_COLUMNS, monitor_rows

    first = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(hours=3)
    store_client.insert("monitor_results", monitor_rows("checkout", "relevance", "pass_rate", 0.7,
                                                        [("ok", 0.8), ("violation", 0.55)], first),
                        column_names=MONITOR_COLUMNS)
    out = run("report", "--last", "24h", "--format", "json", "--clickhouse-url", store_url)
    assert out.exit_code == 0, out.output
    (m,) = json.loads(out.output)["monitors"]
    assert (m["monitor"], m["violations"], m["possible_violations"], m["violation_rate"]) == ("checkout", 1, 2, 0.5)
    table = run("report", "--last", "24h", "--clickhouse-url", store_url)
    assert table.exit_code == 0, table.output
    line = next(ln for ln in table.output.splitlines() if ln.strip().startswith("checkout"))
    assert line.split() == ["checkout", "relevance", "pass_rate", "70.0%", "55.0%", "1", "2", "50.0%"]
