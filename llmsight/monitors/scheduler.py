"""Run every monitor when its schedule says, inside ``serve`` or ``llmsight monitor run``.

``tick(now)`` is the whole scheduler: it runs the monitors due at ``now`` (the latest scheduled
instant since each one's last run, so missed instants after a restart collapse into one run) and
returns. The caller supplies the clock and the loop, so tests drive it with injected instants.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from llmsight.monitors.config import MonitorFile
from llmsight.monitors.results import Run, last_run_times
from llmsight.monitors.runner import JudgeSettings, Judging, run_monitor
from llmsight.monitors.schedule import last_due, next_run

log = logging.getLogger("llmsight.monitors")


class Scheduler:
    def __init__(
        self,
        file: MonitorFile,
        client_factory: Callable[[], Any],
        database: str,
        judge: JudgeSettings,
        *,
        judging: Callable[[Any], Judging] | None = None,
        submit: Callable[..., None] | None = None,
    ) -> None:
        self.file = file
        self.client_factory = client_factory
        self.database = database
        self.judge = judge
        self.judging = judging
        self.submit = submit
        self.last_run: dict[str, dt.datetime] | None = None  # read from monitor_results on the first tick

    def next_runs(self, now: dt.datetime) -> dict[str, dt.datetime]:
        return {m.name: next_run(m.schedule, now) for m in self.file.monitors}

    def tick(self, now: dt.datetime) -> list[Run]:
        """Run what is due at ``now``; a monitor's failure is logged and does not stop the others."""
        from llmsight.monitors.runner import judge_for

        runs: list[Run] = []
        try:
            client = self.client_factory()
        except Exception as exc:  # the store is down: one line per tick; the monitors run when it is back
            log.warning("monitors: cannot open the store, no monitor runs now: %s", _first_line(exc))
            return runs
        try:
            if self.last_run is None:
                self.last_run = last_run_times(client, self.database)
            for monitor in self.file.monitors:
                due = last_due(monitor.schedule, now, self.last_run.get(monitor.name))
                if due is None:
                    continue
                try:
                    run = run_monitor(
                        monitor,
                        client,
                        self.database,
                        run_at=due,
                        judge=judge_for(monitor, self.judge),
                        judging=self.judging(client) if self.judging else None,
                        submit=self.submit,
                    )
                except Exception as exc:  # not marked as run: the next tick tries this instant again
                    log.warning("monitor %s could not run (tried again next tick): %s", monitor.name, _first_line(exc))
                    continue
                self.last_run[monitor.name] = due
                runs.append(run)
                if run.state in ("violation", "error"):
                    log.warning("monitor %s: %s (%s)", monitor.name, run.state, _summary(run))
        except Exception as exc:
            log.warning("monitors: cannot read the store, no monitor runs now: %s", _first_line(exc))
        finally:
            close = getattr(client, "close", None)
            if close:
                close()
        return runs


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _summary(run: Run) -> str:
    bad = [r for r in run.results if r.state in ("violation", "error")]
    # an error says why (e.g. no judge configured); a violation says its value against its target
    return "; ".join(
        f"{r.signal}/{r.metric} {r.statistic}: "
        + (r.detail if r.state == "error" else f"{r.value:.4g} against {r.comparison} {r.target:g}")
        for r in bad[:5]
    )
