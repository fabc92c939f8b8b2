"""The monitor file: what it accepts, the errors it gives, schedules and windows with injected time."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from llmsight.durations import DurationError, parse_duration
from llmsight.monitors.config import Schedule, default_monitor_file
from llmsight.monitors.loader import MonitorFileError, load_monitors, parse_monitor_text
from llmsight.monitors.schedule import last_due, next_run, window_for

UTC = dt.timezone.utc
AT = dt.datetime(2026, 12, 4, 3, 47, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("P7D", 604800),
        ("PT1H", 3600),
        ("7d", 604800),
        ("1h", 3600),
        ("P1DT12H", 129600),
        ("PT30M", 1800),
        ("90", 90),
        ("2w", 1209600),
        ("1.5h", 5400),
        ("pt15m", 900),
    ],
)
def test_durations_iso_and_short(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["P", "PT", "P1DT", "-1h", "1y", "seven days", ""])
def test_bad_durations_say_which_forms_work(text: str) -> None:
    with pytest.raises(DurationError, match="PT1H, P7D"):
        parse_duration(text)


def test_cron_schedule_with_injected_time() -> None:
    hourly = Schedule(cron="0 * * * *")
    assert next_run(hourly, AT) == dt.datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    assert next_run(Schedule(cron="30 8 * * 1"), AT) == dt.datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # a Monday
    # never ran: the latest instant is due at once; already ran at it: nothing due until the next one
    assert last_due(hourly, AT, None) == dt.datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert last_due(hourly, AT, dt.datetime(2026, 12, 4, 3, 0, tzinfo=UTC)) is None
    # down for three hours: one run at the latest missed instant, not three catch-up runs
    assert last_due(hourly, AT, dt.datetime(2026, 12, 4, 0, 0, tzinfo=UTC)) == dt.datetime(
        2026, 12, 4, 3, 0, tzinfo=UTC
    )
    # exactly on an instant, it is due
    on_the_hour = dt.datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    assert last_due(hourly, on_the_hour, dt.datetime(2026, 12, 4, 3, 0, tzinfo=UTC)) == on_the_hour


def test_interval_schedule_fires_on_epoch_multiples() -> None:
    every = Schedule.model_validate("15m")
    assert every.every == 900
    assert next_run(every, AT) == dt.datetime(2026, 12, 4, 4, 0, tzinfo=UTC)
    assert last_due(every, AT, None) == dt.datetime(2026, 12, 4, 3, 45, tzinfo=UTC)
    assert last_due(every, AT, dt.datetime(2026, 12, 4, 3, 45, tzinfo=UTC)) is None
    assert Schedule.model_validate({"every": "PT2H"}).every == 7200


def test_window_with_lookback_offset() -> None:
    monitor = parse_monitor_text("monitors: [{name: m, lookback: P7D, lookback_offset: 1h}]").monitors[0]
    window = window_for(monitor, AT)
    assert window.end == AT - dt.timedelta(hours=1)
    assert window.start == AT - dt.timedelta(days=7, hours=1)


def test_a_complete_file_is_read_into_its_models() -> None:
    text = (Path(__file__).parents[2] / "docs" / "examples" / "llmsight.yaml").read_text()
    file = parse_monitor_text(text)
    checkout = file.monitor("checkout-quality")
    assert checkout.target.service == "checkout" and checkout.schedule.cron == "0 8 * * *"
    assert checkout.lookback == 7 * 86400 and checkout.lookback_offset == 3600
    assert checkout.signals.quality.metrics["groundedness"].pass_rate_min == 0.8
    assert checkout.signals.quality.metrics["fluency"].average_min == 4
    assert checkout.notify.channels == ["oncall", "slack"]
    assert set(file.channels) == {"oncall", "slack"}


def test_default_monitor_is_azures_defaults() -> None:
    (monitor,) = default_monitor_file().monitors
    quality = monitor.signals.quality
    assert set(quality.metrics) == {"groundedness", "relevance", "coherence", "fluency", "similarity"}
    assert quality.sample_rate == 0.1
    assert {(m.threshold, m.pass_rate_min) for m in quality.metrics.values()} == {(4.0, 0.7)}
    assert monitor.notify.channels == []


def test_no_file_means_the_default_monitor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMSIGHT_CONFIG", raising=False)
    loaded = load_monitors(cwd=tmp_path)
    assert loaded.path is None and [m.name for m in loaded.file.monitors] == ["default"]
    (tmp_path / "llmsight.yaml").write_text("monitors: [{name: mine}]")
    assert [m.name for m in load_monitors(cwd=tmp_path).file.monitors] == ["mine"]


BAD = {
    "unknown field": ("monitors: [{name: a, lookbak: 1h}]", "monitors[0].lookbak: unknown field"),
    "bad cron": ("monitors: [{name: a, schedule: {cron: '61 * * * *'}}]", "monitors[0].schedule: cron '61 * * * *'"),
    "negative target": (
        "monitors: [{name: a, signals: {quality: {metrics: {groundedness: {pass_rate_min: -0.1}}}}}]",
        "monitors[0].signals.quality.metrics.groundedness.pass_rate_min: Input should be greater than or equal to 0",
    ),
    "unknown metric": (
        "monitors: [{name: a, signals: {quality: {metrics: [toxicity]}}}]",
        "monitors[0].signals.quality.metrics: unknown metric(s) toxicity; choose from coherence, fluency, groundedness",
    ),
    "threshold on a pass/fail metric": (
        "monitors: [{name: a, signals: {quality: {metrics: {prompt_injection: {threshold: 3}}}}}]",
        "quality.metrics: prompt_injection: a pass/fail metric has no threshold; set pass_rate_min",
    ),
    "missing rubrics dir": (
        "monitors: [{name: a, signals: {quality: {rubrics_dir: /nonexistent/rubrics, metrics: [tone]}}}]",
        "quality.metrics: rubrics directory /nonexistent/rubrics",
    ),
    "unknown drift item": (
        "monitors: [{name: a, signals: {drift: {items: [answer_length, 'score:relevance']}}}]",
        "monitors[0].signals.drift.items: unknown drift item(s) answer_length: use input_tokens,",
    ),
    "bad duration": ("monitors: [{name: a, lookback: 7 days}]", "monitors[0].lookback: cannot read duration '7 days'"),
    "unknown channel": ("monitors: [{name: a, notify: {channels: [pager]}}]", "notifies unknown channel(s) pager"),
    "duplicate names": ("monitors: [{name: a}, {name: a}]", "monitor names must be unique: a"),
    "not yaml": ("monitors: [", "not valid YAML (line 1"),
    "bad channel": (
        "channels: {x: {type: webhook, url: 'ftp://h/x'}}\nmonitors: [{name: a}]",
        "channels.x.webhook.url",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_files_name_the_field(case: str) -> None:
    text, expected = BAD[case]
    with pytest.raises(MonitorFileError) as caught:
        parse_monitor_text(text, "llmsight.yaml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("llmsight.yaml: ")


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmsight.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd), **env},
    )


TONE = """---
metric: tone
version: 2
inputs: [answer]
scale: binary
---
Fail an answer that is curt or rude to the user.
"""


def test_a_custom_metric_from_the_files_rubrics_dir_and_safety_defaults(tmp_path: Path) -> None:
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "tone.md").write_text(TONE)
    (tmp_path / "llmsight.yaml").write_text(
        "monitors:\n  - name: a\n    signals:\n      quality:\n        rubrics_dir: rubrics\n"
        "        metrics: {groundedness: {threshold: 3}, tone: {pass_rate_min: 0.9}, harmful_content: {}}\n"
    )
    quality = load_monitors(cwd=tmp_path).file.monitors[0].signals.quality
    assert quality is not None and quality.rubrics_dir == str(tmp_path / "rubrics")  # relative to the file
    assert quality.thresholds() == {"groundedness": 3.0, "tone": 1.0, "harmful_content": 1.0}
    assert quality.metrics["tone"].pass_rate_min == 0.9
    assert quality.metrics["harmful_content"].pass_rate_min == 0.99  # a safety metric's stricter default
    assert quality.metrics["groundedness"].pass_rate_min == 0.7


@pytest.mark.parametrize("command", [["monitor", "check"], ["monitor", "run", "--once"], ["monitors"], ["serve"]])
def test_an_invalid_file_is_exit_2_and_nothing_starts(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "llmsight.yaml").write_text("monitors:\n  - name: a\n    schedule: {cron: 'every monday'}\n")
    done = _cli(*command, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "llmsight.yaml: monitors[0].schedule: cron 'every monday' is not a valid cron expression" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".llmsight").exists()  # no store, no spool: nothing started


def test_check_prints_what_it_would_monitor(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "docs" / "examples" / "llmsight.yaml"
    done = _cli("monitor", "check", "--config", str(example), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "checkout-quality  service=checkout, environment=production" in out
    assert "cron 0 8 * * * (UTC)" in out and "7d ending 1h before each run" in out
    assert "groundedness" in out and "judge errors <= 20%" in out
    assert "channel slack: webhook to the URL in $SLACK_WEBHOOK_URL (slack)" in out
    (tmp_path / "hook.yaml").write_text(
        "channels: {hook: {type: webhook, url: 'https://hooks.slack.com/services/T0/B0/s3cret'}}\nmonitors: [{name: a}]"
    )
    done = _cli("monitor", "check", "--config", "hook.yaml", cwd=tmp_path)
    assert "https://hooks.slack.com/… (json)" in done.stdout and "s3cret" not in done.stdout  # the secret path


def test_every_yaml_example_in_the_docs_is_a_valid_file() -> None:
    import re

    doc = (Path(__file__).parents[2] / "docs" / "monitors.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        assert parse_monitor_text(block, "docs/monitors.md").monitors
    example = (Path(__file__).parents[2] / "docs" / "examples" / "llmsight.yaml").read_text()
    assert blocks[0].strip() in example  # the page shows the example file itself


def test_grafana_rules_command_writes_the_monitors_rules(tmp_path: Path) -> None:
    import yaml

    example = Path(__file__).parents[2] / "docs" / "examples" / "llmsight.yaml"
    done = _cli("monitor", "grafana-rules", "--config", str(example), "--out", "alerting/rules.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load((tmp_path / "alerting" / "rules.yaml").read_text())
    assert [g["name"] for g in doc["groups"]] == ["checkout-quality", "support-bot"]
    assert "contactPoints" not in doc  # llmsight sends the notifications; Grafana's are opt-in
    with_points = _cli("monitor", "grafana-rules", "--config", str(example), "--contact-points", cwd=tmp_path)
    names = [p["name"] for p in yaml.safe_load(with_points.stdout)["contactPoints"]]
    assert names == ["llmsight-oncall", "llmsight-slack"]


def test_without_a_file_every_command_shows_the_default_monitor_serve_runs(tmp_path: Path) -> None:
    """serve builds the default monitor from the evaluator settings it used before; check must show that one."""
    done = _cli("monitor", "check", cwd=tmp_path, LLMSIGHT_SAMPLE_RATE="0.25", LLMSIGHT_EVALUATOR_METRICS="coherence")
    assert done.returncode == 0, done.stderr
    assert "sample 25% of calls" in done.stdout and "coherence" in done.stdout and "groundedness" not in done.stdout


def test_judge_coverage_counts_the_calls_the_evaluator_samples() -> None:
    """sampled_calls.sql restates sampling.py's rule in SQL: hold the two to the same predicate and exclusions."""
    from llmsight.evaluator.sampling import SKIPPED_OPERATIONS, sample_predicate
    from llmsight.queries import render

    sql = render("sampled_calls")
    assert sample_predicate(0.5).replace("5000", "{sample_basis_points:UInt32}") in sql
    listed = sql.split("toString(Operation) NOT IN (", 1)[1].split(")", 1)[0]
    assert sorted(op.strip(" '") for op in listed.split(",")) == sorted(SKIPPED_OPERATIONS)
    assert "StatusCode != 'Error'" in sql
