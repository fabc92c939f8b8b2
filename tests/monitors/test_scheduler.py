"""The scheduler with injected instants on the real schema: what runs when, across a restart and a dead store."""

from __future__ import annotations

import datetime as dt
import logging

from llmsight.monitors.loader import parse_monitor_text
from llmsight.monitors.runner import JudgeSettings
from llmsight.monitors.scheduler import Scheduler

UTC = dt.timezone.utc
FILE = parse_monitor_text("""
monitors:
  - {name: quarter-hourly, schedule: {every: 15m}, lookback: 1h, signals: {quality: null, operations: {}}}
  - {name: hourly, schedule: {cron: "0 * * * *"}, lookback: 1h, signals: {quality: null, operations: {}}}
""")


def scheduler(store_url: str) -> Scheduler:
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    store = parse_store_url(store_url)
    return Scheduler(FILE, lambda: open_client(store), store.database, JudgeSettings())


def ran(runs) -> list[tuple[str, str]]:
    return sorted((r.monitor, f"{r.run_at:%H:%M}") for r in runs)


def test_runs_what_is_due_once_and_again_at_the_next_instant(store_url):
    s = scheduler(store_url)
    at = dt.datetime(2026, 12, 4, 10, 7, tzinfo=UTC)
    assert ran(s.tick(at)) == [("hourly", "10:00"), ("quarter-hourly", "10:00")]  # never ran: the latest instant
    assert ran(s.tick(at + dt.timedelta(minutes=5))) == []
    assert ran(s.tick(at + dt.timedelta(minutes=8))) == [("quarter-hourly", "10:15")]
    # a restart reads the last runs from monitor_results: nothing due is run again
    restarted = scheduler(store_url)
    assert ran(restarted.tick(at + dt.timedelta(minutes=9))) == []
    # down from 10:16 to 11:40: one run each at the latest missed instant, not a burst of catch-up runs
    assert ran(restarted.tick(dt.datetime(2026, 12, 4, 11, 40, tzinfo=UTC))) == [
        ("hourly", "11:00"),
        ("quarter-hourly", "11:30"),
    ]


def test_a_dead_store_is_one_warning_and_no_run(caplog):
    def unavailable():
        raise ConnectionError("connection refused\nmore detail")

    s = Scheduler(FILE, unavailable, "otel", JudgeSettings())
    with caplog.at_level(logging.WARNING, logger="llmsight.monitors"):
        assert s.tick(dt.datetime(2026, 12, 4, 10, 7, tzinfo=UTC)) == []
    assert [r.getMessage() for r in caplog.records] == [
        "monitors: cannot open the store, no monitor runs now: connection refused"
    ]
    assert s.last_run is None  # nothing marked as run: it runs once the store is back


def test_the_log_line_of_a_run_in_error_says_why(store_url, caplog):
    file = parse_monitor_text("monitors: [{name: q, signals: {quality: {metrics: [coherence]}}}]")
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    store = parse_store_url(store_url)
    s = Scheduler(file, lambda: open_client(store), store.database, JudgeSettings())  # no judge configured
    with caplog.at_level(logging.WARNING, logger="llmsight.monitors"):
        (run,) = s.tick(dt.datetime(2026, 12, 4, 10, 7, tzinfo=UTC))
    assert run.state == "error"
    assert "judge_health/judge judge_errors: no judge configured: set LLMSIGHT_JUDGE_MODEL" in caplog.text
