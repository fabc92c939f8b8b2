"""Alert provisioning: the templates render from the environment with the same awk the Grafana
container runs, the result is valid unified-alerting provisioning, and each rule's SQL, evaluated
through its reduce/threshold pipeline on seeded data, fires exactly where the data says it should."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import timedelta

import pytest
import yaml

from .conftest import DATASOURCE_UID, PROVISIONING, REPO
from .macros import Context, expand

ALERTING = PROVISIONING / "alerting"
AWK = REPO / "deploy" / "grafana" / "render-env.awk"
ENTRYPOINT = REPO / "deploy" / "grafana" / "entrypoint.sh"

pytestmark = pytest.mark.skipif(shutil.which("awk") is None, reason="awk renders the templates")


def render(template: str, **env: str) -> dict:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSIGHT_ALERT_")}
    full_env.update(env)
    out = subprocess.run(["awk", "-f", str(AWK), str(ALERTING / template)], env=full_env, check=True,
                         capture_output=True, text=True).stdout
    code = [line for line in out.splitlines() if not line.lstrip().startswith("#")]
    assert not any("${LLMSIGHT_" in line for line in code), "a placeholder was left unrendered"
    return yaml.safe_load(out)


def rules(**env: str) -> dict[str, dict]:
    doc = render("rules.yaml.tmpl", **env)
    return {r["uid"]: r for g in doc["groups"] for r in g["rules"]}


def test_rules_render_with_defaults_and_are_valid_provisioning():
    doc = render("rules.yaml.tmpl")
    assert doc["apiVersion"] == 1
    (group,) = doc["groups"]
    assert group["folder"] and group["interval"] == "1m"
    by_uid = {r["uid"]: r for r in group["rules"]}
    assert set(by_uid) == {"llmsight-quality-pass-rate", "llmsight-error-rate", "llmsight-latency-p95",
                           "llmsight-cost-per-hour"}
    for rule in group["rules"]:
        refs = {d["refId"]: d for d in rule["data"]}
        assert rule["condition"] in refs and rule["labels"]["team"] == "llmsight"
        a = refs["A"]
        assert a["datasourceUid"] == DATASOURCE_UID and a["relativeTimeRange"]["from"] > 0
        sql = a["model"]["rawSql"]
        # alert queries have no dashboard: no template variables, no frontend-only macros
        assert "$__conditionalAll" not in sql and "${" not in sql
        assert "$__timeFilter(" in sql
        assert refs["B"]["model"]["type"] == "reduce" and refs["B"]["model"]["expression"] == "A"
        c = refs["C"]["model"]
        assert c["type"] == "threshold" and c["expression"] == "B"
        assert isinstance(c["conditions"][0]["evaluator"]["params"][0], int | float)
    thresholds = {u: r["data"][2]["model"]["conditions"][0]["evaluator"] for u, r in by_uid.items()}
    assert thresholds["llmsight-error-rate"] == {"type": "gt", "params": [0.05]}
    assert thresholds["llmsight-quality-pass-rate"] == {"type": "lt", "params": [0.8]}


def test_environment_overrides_thresholds_windows_and_contact_point():
    by_uid = rules(LLMSIGHT_ALERT_ERROR_RATE_MAX="0.2", LLMSIGHT_ALERT_ERROR_WINDOW_S="60",
                   LLMSIGHT_ALERT_FOR="10m")
    rule = by_uid["llmsight-error-rate"]
    assert rule["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [0.2]
    assert rule["data"][0]["relativeTimeRange"]["from"] == 60 and rule["for"] == "10m"
    email = render("contact-point-email.yaml.tmpl", LLMSIGHT_ALERT_EMAIL="ops@corp.example")
    assert email["contactPoints"][0]["receivers"][0]["settings"]["addresses"] == "ops@corp.example"
    hook = render("contact-point-webhook.yaml.tmpl", LLMSIGHT_ALERT_WEBHOOK_URL="https://hooks.example/x")
    assert hook["contactPoints"][0]["receivers"][0]["settings"]["url"] == "https://hooks.example/x"


def test_policy_routes_to_the_contact_point_both_templates_define():
    policy = yaml.safe_load((ALERTING / "policies.yaml").read_text())["policies"][0]
    names = {render(t)["contactPoints"][0]["name"] for t in
             ("contact-point-email.yaml.tmpl", "contact-point-webhook.yaml.tmpl")}
    assert names == {policy["receiver"]} == {r["receiver"] for r in policy["routes"]}
    assert policy["routes"][0]["object_matchers"] == [["team", "=", "llmsight"]]


@pytest.mark.parametrize("webhook,expected", [("", "email"), ("https://hooks.example/x", "webhook")])
def test_entrypoint_renders_a_loadable_provisioning_tree(tmp_path, webhook, expected):
    env = {"PATH": os.environ["PATH"], "LLMSIGHT_PROVISIONING_SRC": str(PROVISIONING),
           "GF_PATHS_PROVISIONING": str(tmp_path), "LLMSIGHT_RENDER_AWK": str(AWK), "LLMSIGHT_RENDER_ONLY": "1",
           "LLMSIGHT_ALERT_WEBHOOK_URL": webhook}
    subprocess.run(["sh", str(ENTRYPOINT)], env=env, check=True, capture_output=True)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["alerting/contact-point.yaml", "alerting/policies.yaml", "alerting/rules.yaml",
                     "dashboards/dashboards.yaml", "datasources/clickhouse.yaml"]
    cp = yaml.safe_load((tmp_path / "alerting/contact-point.yaml").read_text())
    assert cp["contactPoints"][0]["receivers"][0]["type"] == expected


def evaluate(seeded, rule: dict) -> dict[tuple, tuple[float, bool]]:
    """Run A, then B (reduce: last) and C (threshold) as Grafana's expression engine would on
    tabular data: each row is an instance, its string columns the labels, its number the value."""
    client, database, data = seeded
    a = rule["data"][0]
    ctx = Context(time_from=data.now - timedelta(seconds=a["relativeTimeRange"]["from"]), time_to=data.now,
                  database=database)
    result = client.query(expand(a["model"]["rawSql"], ctx))
    ev = rule["data"][2]["model"]["conditions"][0]["evaluator"]
    limit = ev["params"][0]
    out = {}
    for row in result.result_rows:
        labels = tuple(v for v in row if isinstance(v, str))
        (value,) = [v for v in row if not isinstance(v, str)]
        out[labels] = (value, value > limit if ev["type"] == "gt" else value < limit)
    return out


DAY = {"LLMSIGHT_ALERT_MIN_SAMPLES": "1", "LLMSIGHT_ALERT_QUALITY_WINDOW_S": "86400",
       "LLMSIGHT_ALERT_ERROR_WINDOW_S": "86400", "LLMSIGHT_ALERT_LATENCY_WINDOW_S": "86400",
       "LLMSIGHT_ALERT_COST_WINDOW_S": "86400"}


def test_error_rate_rule_fires_for_the_services_above_the_limit(seeded):
    _, _, data = seeded
    rates = {}
    for svc in {c.service for c in data.in_range()}:
        calls = data.in_range(service=svc)
        rates[svc] = sum(c.error for c in calls) / len(calls)
    limit = sorted(rates.values())[1]  # between the rates, so some fire and some do not
    got = evaluate(seeded, rules(**DAY, LLMSIGHT_ALERT_ERROR_RATE_MAX=str(limit))["llmsight-error-rate"])
    assert {k[0]: v[0] for k, v in got.items()} == pytest.approx(rates)
    assert {k[0] for k, v in got.items() if v[1]} == {s for s, r in rates.items() if r > limit}


def test_pass_rate_rule_fires_per_metric_below_target(seeded):
    _, _, data = seeded
    rates = {}
    for metric in {e.metric for e in data.evals_in_range()}:
        ev = data.evals_in_range(metric=metric)
        rates[metric] = sum(e.passed for e in ev) / len(ev)
    got = evaluate(seeded, rules(**DAY, LLMSIGHT_ALERT_PASS_RATE_MIN="0.99")["llmsight-quality-pass-rate"])
    assert {k[0]: v[0] for k, v in got.items()} == pytest.approx(rates)
    assert all(v[1] for v in got.values())
    got = evaluate(seeded, rules(**DAY, LLMSIGHT_ALERT_PASS_RATE_MIN="0.01")["llmsight-quality-pass-rate"])
    assert not any(v[1] for v in got.values())


def test_cost_rule_compares_the_hourly_spend_with_the_budget(seeded):
    _, _, data = seeded
    per_hour = sum(c.cost for c in data.in_range()) / 24
    got = evaluate(seeded, rules(**DAY, LLMSIGHT_ALERT_COST_PER_HOUR_MAX=str(per_hour / 2))["llmsight-cost-per-hour"])
    ((value, firing),) = got.values()
    assert value == pytest.approx(per_hour) and firing


def test_latency_rule_reports_p95_per_service_and_model(seeded):
    got = evaluate(seeded, rules(**DAY, LLMSIGHT_ALERT_P95_LATENCY_MAX_S="0.001")["llmsight-latency-p95"])
    assert got and all(len(labels) == 2 and firing for labels, (_, firing) in got.items())
