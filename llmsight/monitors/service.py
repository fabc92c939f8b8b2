"""The monitors' background jobs inside ``serve``: judging for every monitor, and the scheduler.

Judging runs every ``LLMSIGHT_EVALUATE_INTERVAL_S`` for each monitor's quality signal (its target,
metrics, sample rate and window), so scores keep up with traffic; each monitor then runs on its own
schedule. Both take one lock around judging, so a monitor run and the periodic pass never judge
the same call twice at the same moment (sampling skips work already done once the lock is free).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from llmsight.monitors.loader import LoadedMonitors
from llmsight.monitors.runner import JudgeSettings, evaluator_config, judge_for
from llmsight.monitors.scheduler import Scheduler

TICK_S = 15.0  # how often serve looks for due monitors; schedules are minute-grained (cron) or >= 10 s


def merge_summaries(summaries: list[Any]) -> Any:
    """One RunSummary for a pass over several monitors (what JudgeHealth records)."""
    from llmsight.evaluator.worker import RunSummary

    total = RunSummary()
    for s in summaries:
        for f in fields(RunSummary):
            value = getattr(s, f.name)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                setattr(total, f.name, getattr(total, f.name) + value)
            elif isinstance(value, str) and value:
                setattr(total, f.name, value)
    return total


class MonitorJobs:
    def __init__(self, settings: Any, loaded: LoadedMonitors, dispatcher: Any = None) -> None:
        from llmsight.evaluator.config import EvaluatorConfig
        from llmsight.store.url import parse_store_url

        self.settings = settings
        self.loaded = loaded
        self.store = parse_store_url(settings.clickhouse_url)
        self.base = EvaluatorConfig.from_settings(settings)
        self.judge = JudgeSettings(settings.judge_model, settings.judge_base_url, settings.judge_api_key)
        self.judging_lock = threading.Lock()
        from llmsight.monitors.notify import Dispatcher

        self.dispatcher = dispatcher or Dispatcher(loaded.file.channels)
        self.scheduler = Scheduler(
            loaded.file,
            self._client,
            self.store.database,
            self.judge,
            judging=self._judging,
            submit=self.dispatcher.submit,
        )

    def _client(self) -> Any:
        from llmsight.store.client import open_client

        return open_client(self.store)

    def _judging(self, client: Any) -> Callable[..., Any]:
        from llmsight.evaluator.worker import run_once

        def judge(monitor: Any, judge: JudgeSettings) -> Any:
            with self.judging_lock:
                return run_once(evaluator_config(monitor, judge, self.base), client, self.store.database)

        return judge

    def evaluate(self) -> Any:
        """One judging pass over every monitor with a quality signal; returns the merged RunSummary."""
        from llmsight.evaluator.judge import JudgeFatalError

        summaries = []
        client = self._client()
        try:
            judge = self._judging(client)
            for monitor in self.loaded.file.monitors:
                settings = judge_for(monitor, self.judge)
                if monitor.signals.quality is None or not settings.model:
                    continue
                try:
                    summaries.append(judge(monitor, settings))
                except JudgeFatalError as exc:
                    if exc.summary is not None:
                        summaries.append(exc.summary)
                    merged = merge_summaries(summaries)
                    exc.summary = merged
                    raise
        finally:
            client.close()
        return merge_summaries(summaries)

    def tick(self) -> list[Any]:
        """Run the monitors due now; returns their runs."""
        return self.scheduler.tick(dt.datetime.now(dt.timezone.utc))

    def run_forever(self, on_run: Callable[[Any], None], sleep: Callable[[float], None]) -> None:
        """The jobs in the foreground, each on its own interval (``llmsight monitor run`` beside a server)."""
        import time

        jobs = self.jobs()
        due = [0.0] * len(jobs)
        while True:
            for i, (interval, job) in enumerate(jobs):
                if time.monotonic() < due[i]:
                    continue
                due[i] = time.monotonic() + interval
                if job == self.tick:
                    for run in self.tick():
                        on_run(run)
                else:
                    job()
            sleep(max(0.5, min(due) - time.monotonic()))

    def jobs(self) -> list[tuple[float, Callable[[], Any]]]:
        """(interval, job) pairs for the collector: judging (with a judge) and the scheduler (always)."""
        jobs: list[tuple[float, Callable[[], Any]]] = []
        if self.judge.model or any(
            m.signals.quality and m.signals.quality.judge.model for m in self.loaded.file.monitors
        ):
            from llmsight.evaluator.health import judge_health

            judge_health().configure(self.judge.model, self.judge.base_url)
            jobs.append((self.settings.evaluate_interval_s, judge_health().watch(self.evaluate)))
        periods = [m.schedule.every for m in self.loaded.file.monitors if m.schedule.every]
        jobs.append((min([TICK_S, *(p / 2 for p in periods)]), self.tick))  # a 10 s schedule is looked at every 5 s
        return jobs
