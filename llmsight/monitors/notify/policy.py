"""Whether a monitor run's result should notify: a pure function of the state and what came before.

Kept apart from sending so the rules (which decide whether people get paged, or get spammed)
can be tested as a table. The rules, per (monitor, signal, metric, statistic) key:

* An *episode* starts with the first ``violation`` run and ends with the next ``ok`` run.
  ``insufficient_data`` and ``error`` runs neither start, extend the notice of, nor end an
  episode: too few samples or a failed query says nothing about whether the target is met.
* A violation notifies when its episode starts (the previous state was ``ok``, nothing, or no
  notification was sent yet in this episode), and again only once ``repeat_interval_s`` has
  passed since the last notification; never within the interval, also not after an
  ``insufficient_data``/``error`` gap (violation -> insufficient_data -> violation).
  ``repeat_interval_s=math.inf`` never repeats; ``0`` repeats on every violating run.
* The first ``ok`` run after an episode that was notified sends one ``resolved`` (when
  ``send_resolved``), also across gaps (violation -> insufficient_data -> ok). An episode that
  was never notified resolves silently, and so does a repeated ``ok``.

The runner keeps ``History`` from its stored results, or with ``next_history`` after each run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["STATES", "History", "decide", "next_history"]

STATES = ("ok", "violation", "insufficient_data", "error")


@dataclass(frozen=True)
class History:
    """What is known from earlier runs of one (monitor, signal, metric, statistic) key.

    ``violation_since`` is the first violating run of the open episode and ``last_notified_at``
    the last violation notification sent in it; both are None outside an episode (the runner
    clears them at the first ``ok`` run, whatever ``decide`` returned).
    """

    last_state: str | None
    violation_since: datetime | None
    last_notified_at: datetime | None


NEVER_RAN = History(last_state=None, violation_since=None, last_notified_at=None)


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown monitor state {state!r}: expected one of {', '.join(STATES)}")


def decide(
    state: str,
    history: History,
    now: datetime,
    repeat_interval_s: float,
    send_resolved: bool,
) -> Literal["violation", "resolved"] | None:
    """``"violation"`` or ``"resolved"`` when this run's ``state`` should notify, else None (see the module doc)."""
    _check_state(state)
    notified_at = history.last_notified_at
    # A notification only counts for the open episode: after an ok run it belongs to one that ended.
    episode_notified = notified_at is not None and history.last_state not in (None, "ok")
    if state == "violation":
        if notified_at is None or not episode_notified:
            return "violation"
        return "violation" if (now - notified_at).total_seconds() >= repeat_interval_s else None
    if state == "ok":
        return "resolved" if send_resolved and episode_notified else None
    return None  # insufficient_data, error: the episode (if any) stays as it is


def next_history(
    history: History,
    state: str,
    now: datetime,
    decision: Literal["violation", "resolved"] | None,
) -> History:
    """The History the next run of this key sees, for runners that keep it in memory (and for tests)."""
    _check_state(state)
    if state == "ok":
        return History(last_state="ok", violation_since=None, last_notified_at=None)
    in_episode = history.last_state not in (None, "ok") and (
        history.violation_since is not None or history.last_notified_at is not None
    )
    since = history.violation_since if in_episode else None
    notified = history.last_notified_at if in_episode else None
    if state == "violation":
        since = since or now
        if decision == "violation":
            notified = now
    return History(last_state=state, violation_since=since, last_notified_at=notified)
