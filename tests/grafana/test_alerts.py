"""Alert rules generated from the monitor file (llmsight.monitors.grafana_rules): valid unified-alerting
provisioning, and each rule's SQL, expanded as Grafana + the plugin would and run through its
reduce/threshold pipeline on seeded data, fires exactly where the data says it should."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from llmsight.monitors.config import MonitorFile, default_monitor_file
from llmsight.monitors.grafana_rules import evaluation_interval, render_rules
from llmsight.monitors.loader import parse_monitor_text

from .conftest import DATASOURCE_UID
from .macros import Context, expand
from .seed import THRESHOLD


def doc_of(file: MonitorFile, **options) -> dict:
    return yaml.safe_load(render_rules(file, **options))


def rules_of(file: MonitorFile) -> dict[tuple, dict]:
    """(monitor, signal, metric, statistic) -> rule; metric is None for per-deployment rules."""
    out = {}
    for group in doc_of(file)["groups"]:
        for rule in group["rules"]:
            labels = rule["labels"]
            out[(labels["monitor"], labels["signal"], labels.get("metric"), labels["statistic"])] = rule
    return out


def monitors(text: str) -> MonitorFile:
    return parse_monitor_text(text)


def evaluate(seeded, rule: dict) -> dict[tuple, tuple[float, bool]]:
    """Run A over the rule's relative time range, then B (last) and C (threshold) as Grafana's expression
    engine does on tabular data: each row an instance, its string columns the labels, its number the value."""
    client, database, data = seeded
    a = rule["data"][0]
    span = a["relativeTimeRange"]
    ctx = Context(time_from=data.now - timedelta(seconds=span["from"]),
                  time_to=data.now - timedelta(seconds=span["to"]), database=database)
    result = client.query(expand(a["model"]["rawSql"], ctx))
    ev = rule["data"][2]["model"]["conditions"][0]["evaluator"]
    limit = ev["params"][0]
    out = {}
    for row in result.result_rows:
        labels = tuple(v for v in row if isinstance(v, str))
        (value,) = [v for v in row if not isinstance(v, str)]
        out[labels] = (value, value > limit if ev["type"] == "gt" else value < limit)
    return out


def test_default_monitor_rules_are_valid_provisioning():
    doc = doc_of(default_monitor_file())
    assert doc["apiVersion"] == 1 and "contactPoints" not in doc  # no channels: nobody to tell
    (group,) = doc["groups"]
    assert (group["name"], group["folder"], group["interval"]) == ("default", "llmsight", "3600s")
    uids = [r["uid"] for r in group["rules"]]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids)
    stats = {(r["labels"]["signal"], r["labels"]["statistic"]) for r in group["rules"]}
    assert stats == {("quality", "pass_rate"), ("judge_health", "judge_errors"), ("judge_health", "coverage"),
                     ("operations", "error_rate")}
    for rule in group["rules"]:
        refs = {d["refId"]: d for d in rule["data"]}
        assert rule["condition"] == "C" and rule["for"] == "0s"
        assert rule["noDataState"] == "NoData"  # insufficient data is never OK
        assert set(rule["labels"]) >= {"monitor", "signal", "metric", "statistic"}
        assert rule["annotations"]["runbook_url"].startswith("/d/llmsight-")
        assert "$values.B.Value" in rule["annotations"]["summary"] and "default" in rule["annotations"]["summary"]
        a = refs["A"]
        assert a["datasourceUid"] == DATASOURCE_UID and a["relativeTimeRange"] == {"from": 86400, "to": 0}
        sql = a["model"]["rawSql"]
        assert "$__conditionalAll" not in sql and "${" not in sql and "{{" not in sql  # no dashboard variables
        assert "$__timeFilter(" in sql
        assert refs["B"]["model"]["type"] == "reduce" and refs["B"]["model"]["expression"] == "A"
        c = refs["C"]["model"]
        assert c["type"] == "threshold" and c["expression"] == "B"
    pass_rate = next(r for r in group["rules"] if r["labels"]["statistic"] == "pass_rate")
    assert pass_rate["data"][2]["model"]["conditions"][0]["evaluator"] == {"type": "lt", "params": [0.7]}


def test_every_rule_of_a_full_monitor_file_runs_on_the_engine(seeded):
    file = monitors("""
monitors:
  - name: everything
    target: {service: chat-api}
    lookback: 1d
    min_samples: 1
    signals:
      quality: {metrics: {groundedness: {threshold: 3, average_min: 3, pass_rate_min: 0.5}}}
      operations: {error_rate_max: 0.1, latency_p95_ms_max: 5000, ttft_p95_ms_max: 1000, min_requests: 10}
      tokens: {budgets: {total_tokens: 100000, cost: 0.5, per_deployment: true}}
  - name: budget
    lookback: 1d
    signals:
      quality: null
      tokens: {budgets: {cost: 0.01}}
""")
    rules = rules_of(file)
    assert len(rules) == 11
    for key, rule in rules.items():
        got = evaluate(seeded, rule)
        assert got, key  # each returns its instance(s) on the seeded day


def test_two_monitors_on_two_services_fire_only_the_one_below_its_target(seeded):
    _, _, data = seeded
    rates = {}
    for service in ("chat-api", "rag-worker"):
        ev = [e for e in data.evals_in_range(metric="relevance") if e.call.service == service]
        rates[service] = sum(e.passed for e in ev) / len(ev)
    chat_min, rag_min = rates["chat-api"] - 0.05, rates["rag-worker"] + 0.05
    file = monitors(f"""
monitors:
  - name: chat
    target: {{service: chat-api}}
    min_samples: 5
    signals: {{quality: {{metrics: {{relevance: {{threshold: {THRESHOLD}, pass_rate_min: {chat_min}}}}}}}}}
  - name: rag
    target: {{service: rag-worker}}
    min_samples: 5
    signals: {{quality: {{metrics: {{relevance: {{threshold: {THRESHOLD}, pass_rate_min: {rag_min}}}}}}}}}
""")
    rules = rules_of(file)
    chat = evaluate(seeded, rules[("chat", "quality", "relevance", "pass_rate")])
    rag = evaluate(seeded, rules[("rag", "quality", "relevance", "pass_rate")])
    assert chat == {(): (pytest.approx(rates["chat-api"]), False)}
    assert rag == {(): (pytest.approx(rates["rag-worker"]), True)}


def test_fewer_samples_than_min_samples_is_no_data_not_ok(seeded):
    _, _, data = seeded
    scored = len(data.evals_in_range(metric="relevance"))
    for min_samples, expected_rows in ((scored, 1), (scored + 1, 0)):
        file = monitors(f"""
monitors:
  - name: q
    min_samples: {min_samples}
    signals:
      quality: {{metrics: {{relevance: {{threshold: {THRESHOLD}, average_min: 2}}}}}}
      operations: {{error_rate_max: 0.5}}
""")
        rules = rules_of(file)
        assert len(evaluate(seeded, rules[("q", "quality", "relevance", "average_score")])) == expected_rows
    calls = len(data.in_range())
    file = monitors(f"monitors: [{{name: o, min_samples: {calls + 1}, signals: {{quality: null, "
                    "operations: {error_rate_max: 0.5}}}]")
    assert evaluate(seeded, rules_of(file)[("o", "operations", "error_rate", "error_rate")]) == {}


def test_operations_and_token_rules_compute_the_monitors_numbers(seeded):
    _, _, data = seeded
    calls = data.in_range(service="rag-worker")
    file = monitors("""
monitors:
  - name: ops
    target: {service: rag-worker}
    min_samples: 1
    signals:
      quality: null
      operations: {error_rate_max: 0.01, latency_p95_ms_max: 1000000}
      tokens: {budgets: {cost: 0.000001, per_deployment: true}}
""")
    rules = rules_of(file)
    errors = evaluate(seeded, rules[("ops", "operations", "error_rate", "error_rate")])
    assert errors == {(): (pytest.approx(sum(c.error for c in calls) / len(calls)), True)}
    durations = sorted(c.duration_ns / 1e6 for c in calls)
    latency = evaluate(seeded, rules[("ops", "operations", "latency", "latency_p95_ms")])
    assert latency == {(): (pytest.approx(durations[int(0.95 * len(durations))]), False)}
    cost = evaluate(seeded, rules[("ops", "tokens", None, "cost")])
    want = {}
    for c in calls:
        want[c.model] = want.get(c.model, 0.0) + c.cost
    assert {k[0]: v[0] for k, v in cost.items()} == pytest.approx(want)
    assert {k[0] for k, v in cost.items() if v[1]} == {m for m, v in want.items() if v > 0.000001}


def test_window_offset_schedule_and_channels_come_from_the_file():
    file = monitors("""
channels:
  oncall: {type: email, host: smtp.example.com, from: llmsight@example.com, to: [a@example.com, b@example.com]}
  hook: {type: webhook, url: "https://hooks.example/x"}
  slack: {type: webhook, url_env: SLACK_URL, format: slack}
monitors:
  - name: hourly
    schedule: {cron: "0 * * * *"}
    lookback: 6h
    lookback_offset: 30m
    signals: {operations: {error_rate_max: 0.1}, quality: null}
    notify: {channels: [oncall, hook], repeat_interval: 2h}
  - name: fast
    schedule: 15m
    signals: {operations: {}, quality: null}
    notify: {channels: [slack], send_resolved: false}
""")
    assert "contactPoints" not in doc_of(file)  # llmsight notifies; Grafana's contact points are opt-in
    doc = doc_of(file, contact_points=True)
    groups = {g["name"]: g for g in doc["groups"]}
    assert (groups["hourly"]["interval"], groups["fast"]["interval"]) == ("3600s", "900s")
    rule = groups["hourly"]["rules"][0]
    assert rule["data"][0]["relativeTimeRange"] == {"from": 6 * 3600 + 1800, "to": 1800}
    assert "to=now-1800s" in rule["annotations"]["runbook_url"]
    points = {p["name"]: p["receivers"][0] for p in doc["contactPoints"]}
    assert points["llmsight-oncall"]["type"] == "email"
    assert points["llmsight-oncall"]["settings"]["addresses"] == "a@example.com;b@example.com"
    assert points["llmsight-hook"]["settings"]["url"] == "https://hooks.example/x"
    assert points["llmsight-slack"]["type"] == "slack" and points["llmsight-slack"]["disableResolveMessage"]
    assert points["llmsight-slack"]["settings"]["url"] == "$__env{SLACK_URL}"  # the secret stays in the environment
    (policy,) = doc["policies"]
    routes = [(r["receiver"], r["object_matchers"], r["repeat_interval"]) for r in policy["routes"]]
    assert routes == [("llmsight-oncall", [["monitor", "=", "hourly"]], "7200s"),
                      ("llmsight-hook", [["monitor", "=", "hourly"]], "7200s"),
                      ("llmsight-slack", [["monitor", "=", "fast"]], "14400s")]
    assert all(r["continue"] for r in policy["routes"])


@pytest.mark.parametrize("cron,seconds", [("*/5 * * * *", 300), ("0 * * * *", 3600), ("0 9 * * 1-5", 86400),
                                          ("30 2 * * *", 86400)])
def test_cron_schedules_evaluate_at_their_shortest_gap(cron, seconds):
    from llmsight.monitors.config import Schedule

    assert evaluation_interval(Schedule(cron=cron)) == seconds
