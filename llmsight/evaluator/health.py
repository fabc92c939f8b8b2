"""Is the judge working? Judge health across the evaluator runs of one long-lived process (``serve``).

A judge outage used to be silent: every run wrote ``judge_error`` rows, logged at INFO, and
nothing else changed. ``JudgeHealth`` remembers how runs went so that ``serve`` can warn (once
when the judge starts failing, then at most every ``warn_every_s`` while it keeps failing, once
when it recovers) and ``/healthz`` can say the judge is failing.

A run *failed* when it asked the judge and got no judgement back (``RunSummary.judge_failed``).
A run with nothing to judge says nothing about the judge and leaves the state as it was.

Standard library only, and ``RunSummary`` only for type checking, so the CLI can import this
without the store client.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmsight.evaluator.worker import RunSummary

log = logging.getLogger("llmsight.evaluator")

WARN_EVERY_S = 600.0  # while the judge keeps failing, repeat the warning at most this often
CHECK_SETTINGS = "check LLMSIGHT_JUDGE_BASE_URL, LLMSIGHT_JUDGE_MODEL and LLMSIGHT_JUDGE_API_KEY"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def duration_text(seconds: float) -> str:
    """``45s``, ``12m``, ``3h05m``: how long the judge has been failing, for a log line."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class JudgeHealth:
    """Thread-safe record of the judge's recent runs; ``status()`` is what ``/healthz`` shows as ``judge``."""

    def __init__(self, warn_every_s: float = WARN_EVERY_S) -> None:
        self.warn_every_s = warn_every_s
        self._lock = threading.Lock()
        self._judge_model = ""
        self._judge_base_url = ""
        self._last_run_at: datetime | None = None
        self._last_success_at: datetime | None = None
        self._last_failure_at: datetime | None = None
        self._failing_since: datetime | None = None
        self._last_warned_at: datetime | None = None
        self._failed_runs = 0  # consecutive
        self._last_error = ""

    def configure(self, judge_model: str, judge_base_url: str = "") -> None:
        """Say which judge the runs use; until then (no judge configured) the status is ``unconfigured``."""
        with self._lock:
            self._judge_model = judge_model
            self._judge_base_url = judge_base_url

    def record(self, summary: RunSummary, now: datetime | None = None) -> None:
        """Take one run's outcome into account and log a warning when the judge starts, keeps or stops failing."""
        now = now or datetime.now(timezone.utc)
        message = ""
        with self._lock:
            self._last_run_at = now
            if summary.judge_failed:
                self._failed_runs += 1
                self._last_failure_at = now
                self._last_error = summary.last_error
                if self._failing_since is None:
                    self._failing_since = now
                    message = (
                        f"judge {self._where()} is failing: no call could be judged in the last run "
                        f"({summary.judge_errors} judge errors, {summary.deferred} left for later); last error: "
                        f"{summary.last_error}; {CHECK_SETTINGS}"
                    )
                elif self._last_warned_at and (now - self._last_warned_at).total_seconds() >= self.warn_every_s:
                    message = (
                        f"judge {self._where()} still failing, for {self._failing_for(now)} "
                        f"({_runs(self._failed_runs)} in a row judged nothing); last error: {summary.last_error}; "
                        f"{CHECK_SETTINGS}"
                    )
                if message:
                    self._last_warned_at = now
            elif summary.scored or summary.parse_errors:
                if self._failing_since is not None:
                    message = (
                        f"judge {self._where()} recovered after failing for {self._failing_for(now)} "
                        f"({_runs(self._failed_runs)} judged nothing)"
                    )
                self._last_success_at = now
                self._failing_since = self._last_warned_at = None
                self._failed_runs = 0
        if message:  # outside the lock: a slow log handler must not hold up status()
            log.warning(message)

    def status(self) -> dict[str, Any]:
        """``status`` is ``failing`` (the last run that asked the judge got nothing back), ``ok`` (it judged),
        ``idle`` (a judge is configured but no run has asked it yet) or ``unconfigured`` (no judge)."""
        with self._lock:
            if self._failed_runs:
                state = "failing"
            elif self._last_success_at:
                state = "ok"
            elif self._judge_model or self._last_run_at:
                state = "idle"
            else:
                state = "unconfigured"
            return {
                "status": state,
                "judge_model": self._judge_model,
                "last_run_at": _iso(self._last_run_at),
                "last_success_at": _iso(self._last_success_at),
                "last_failure_at": _iso(self._last_failure_at),
                "failing_since": _iso(self._failing_since),
                "consecutive_failed_runs": self._failed_runs,
                "last_error": self._last_error,
            }

    def watch(self, run: Callable[[], RunSummary]) -> Callable[[], None]:
        """``run`` (one evaluator pass) as a background job whose every outcome is recorded here.

        A ``JudgeFatalError`` (rejected key, unknown model) is a failed run like an outage: it is
        recorded and warned about on the same schedule, instead of a traceback every interval.
        Other errors (the store) are not the judge's and propagate to the scheduler.
        """
        from llmsight.evaluator.judge import JudgeFatalError

        def evaluate_and_watch_judge() -> None:
            try:
                summary = run()
            except JudgeFatalError as exc:
                if exc.summary is None:
                    raise
                summary = exc.summary
            self.record(summary)

        return evaluate_and_watch_judge

    def _where(self) -> str:
        model = repr(self._judge_model) if self._judge_model else "(no model)"
        return f"{model} at {self._judge_base_url}" if self._judge_base_url else model

    def _failing_for(self, now: datetime) -> str:
        return duration_text((now - self._failing_since).total_seconds()) if self._failing_since else "0s"


_PROCESS_HEALTH = JudgeHealth()


def judge_health() -> JudgeHealth:
    """The process's one ``JudgeHealth``: serve's evaluator job records into it, ``/healthz`` reads it."""
    return _PROCESS_HEALTH
