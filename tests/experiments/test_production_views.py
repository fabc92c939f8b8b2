"""Experiments stay out of production figures: a CI run of a deliberately bad variant must move no production
report, monitor, dashboard panel or alert, nor be sampled by serve's judge; asked for by environment, its calls
show. (Its scores are never in production's `evaluations` at all: experiment_evaluations.)"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from llmsight.cli.main import app
from llmsight.queries import Filters, render
from llmsight.queries.questions import EXPERIMENT_ENVIRONMENT
from tests.experiments.conftest import DATASET
from tests.grafana.macros import ALL, Context, expand

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("eval_env")


@pytest.fixture
def experiment(tmp_path) -> int:
    """A stored experiment: the worse app (its groundedness fails) on the first 6 rows; returns the row count."""
    small = tmp_path / "small.jsonl"
    small.write_text("".join(DATASET.read_text().splitlines(keepends=True)[:6]))
    result = runner.invoke(
        app, ["eval", "run", str(small), "--name", "ci", "--target", "worse_app:answer", "--metrics", "groundedness"]
    )
    assert result.exit_code == 0, result.output
    return 6


def report(*args: str) -> dict:
    result = runner.invoke(app, ["report", "--last", "1h", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_report_leaves_experiments_out_unless_asked_for(experiment):
    production = report()
    assert production["metrics"] == [] and production["calls"]["requests"] == 0
    asked = report("--environment", EXPERIMENT_ENVIRONMENT)
    assert asked["calls"]["requests"] == experiment
    # the experiment's scores are its own (experiment_evaluations): eval runs / compare / gate report them
    assert asked["metrics"] == []


def test_calls_lists_experiment_calls_only_when_asked_for(experiment):
    def listed(*args: str) -> int:
        result = runner.invoke(app, ["calls", "--last", "1h", "--limit", "100", *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return result.output.count("llmsight-eval / ")  # the run's service, beside each call's model

    assert listed() == 0
    assert "no LLM calls in the last 1h" in runner.invoke(app, ["calls", "--last", "1h"]).output
    assert listed("--environment", EXPERIMENT_ENVIRONMENT) == experiment


def test_serves_judge_does_not_sample_experiment_calls(experiment, store_url, store_client):
    from llmsight.evaluator.config import EvaluatorConfig
    from llmsight.evaluator.worker import run_once
    from llmsight.store.url import parse_store_url

    cfg = EvaluatorConfig(judge_model="demo-judge", sample_rate=1.0, since_s=3600)
    assert run_once(cfg, store_client, parse_store_url(store_url).database, dry_run=True).candidates == 0
    asked = EvaluatorConfig(judge_model="demo-judge", sample_rate=1.0, since_s=3600, environment=EXPERIMENT_ENVIRONMENT)
    assert run_once(asked, store_client, parse_store_url(store_url).database, dry_run=True).candidates == experiment


def test_dashboards_and_alert_rules_leave_experiments_out_unless_the_environment_is_chosen(
    experiment, store_url, store_client
):
    from llmsight.store.url import parse_store_url

    now = dt.datetime.now(dt.timezone.utc)
    sql = render("call_stats", "grafana")

    def panel(environment: str | list[str]) -> list[tuple]:
        ctx = Context(
            time_from=now - dt.timedelta(hours=1), time_to=now + dt.timedelta(minutes=1),
            variables={"service": ALL, "model": ALL, "metric": ALL, "environment": environment},
            options={"environment": ["", EXPERIMENT_ENVIRONMENT]}, database=parse_store_url(store_url).database,
        )  # fmt: skip
        return store_client.query(expand(sql, ctx)).result_rows

    assert panel(ALL)[0][0] == 0  # requests
    assert panel([EXPERIMENT_ENVIRONMENT])[0][0] == experiment
    rule = render("quality_by_metric", "grafana_rule", filters=Filters())
    assert f"Environment != '{EXPERIMENT_ENVIRONMENT}'" in rule
    assert f"Environment = '{EXPERIMENT_ENVIRONMENT}'" in render(
        "quality_by_metric", "grafana_rule", filters=Filters(environment=EXPERIMENT_ENVIRONMENT)
    )
