"""When a monitor runs next, and which window a run looks at. Time is passed in, never read here,
so schedules are tested by injecting instants instead of sleeping."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from llmsight.monitors.config import Monitor, Schedule

UTC = dt.timezone.utc


def next_run(schedule: Schedule, after: dt.datetime) -> dt.datetime:
    """The first instant strictly after ``after`` at which ``schedule`` fires (cron in UTC).

    An interval schedule fires on multiples of its period since the Unix epoch, so every process
    (serve, a worker, a restart) agrees on the instants instead of drifting with its start time.
    """
    after = after.astimezone(UTC)
    if schedule.cron:
        from croniter import croniter

        return croniter(schedule.cron, after).get_next(dt.datetime).astimezone(UTC)
    period = float(schedule.every or 0)
    epoch = after.timestamp()
    return dt.datetime.fromtimestamp((epoch // period + 1) * period, UTC)


def latest_instant(schedule: Schedule, now: dt.datetime) -> dt.datetime:
    """The last instant at or before ``now`` at which ``schedule`` fires."""
    now = now.astimezone(UTC)
    if schedule.cron:
        from croniter import croniter

        return croniter(schedule.cron, now + dt.timedelta(microseconds=1)).get_prev(dt.datetime).astimezone(UTC)
    period = float(schedule.every or 0)
    return dt.datetime.fromtimestamp(now.timestamp() // period * period, UTC)


def last_due(schedule: Schedule, now: dt.datetime, previous: dt.datetime | None) -> dt.datetime | None:
    """The scheduled instant to run for now, or None when the latest one already ran (``previous``).

    Missed instants (serve was down) collapse into one run at the latest of them, not a burst of
    catch-up runs; a monitor that never ran runs at once.
    """
    latest = latest_instant(schedule, now)
    if previous is not None and latest <= previous:
        return None
    return latest


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def window_for(monitor: Monitor, run_at: dt.datetime) -> Window:
    end = run_at.astimezone(UTC) - dt.timedelta(seconds=monitor.lookback_offset)
    return Window(end - dt.timedelta(seconds=monitor.lookback), end)
