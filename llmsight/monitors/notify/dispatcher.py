"""Deliver alerts in the background, retrying failed deliveries with exponential backoff.

A monitor run must not wait on an SMTP server or a webhook, and one dead channel must not hold
up the others: ``submit`` only queues, and one daemon thread works through deliveries in order
of when they are due. A failed delivery is put back with a later due time instead of sleeping
in place, so the deliveries behind it go out meanwhile.

Logs name the channel, monitor, metric and the error, never a password, header value or
webhook URL (for Slack the URL is the secret).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llmsight.monitors.notify.alert import Alert
from llmsight.monitors.notify.channels import Channel, EmailChannel
from llmsight.monitors.notify.email import send_email
from llmsight.monitors.notify.webhook import send_webhook

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    channel_name: str = field(compare=False)
    alert: Alert = field(compare=False)
    attempt: int = field(default=1, compare=False)


class Dispatcher:
    """Queue of (alert, channel) deliveries worked by one background thread.

    ``sleep`` and ``clock`` (seconds, monotonic) are injectable so tests of backoff need no real
    waiting. The default ``sleep`` wakes up early when something is submitted or on ``close``.
    Counters for metrics: ``sent``, ``retried`` (attempts scheduled again) and ``failed``
    (deliveries given up on, including unknown channel names).
    """

    def __init__(
        self,
        channels: Mapping[str, Channel],
        env: Mapping[str, str] | None = None,
        *,
        max_attempts: int = 5,
        backoff_s: float = 2.0,
        max_backoff_s: float = 300.0,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.channels = dict(channels)
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._wake = threading.Event()
        self._sleep = sleep if sleep is not None else self._wait_for_work
        self._lock = threading.Condition()
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()
        self._busy = 0
        self._closed = False
        self.sent = 0
        self.failed = 0
        self.retried = 0
        self._thread = threading.Thread(target=self._run, name="llmsight-notify", daemon=True)
        self._thread.start()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, alert: Alert, channel_names: Sequence[str]) -> None:
        """Queue ``alert`` for each named channel; returns at once and never raises."""
        try:
            with self._lock:
                for name in channel_names:
                    if self._closed:
                        log.error(
                            "notification for monitor %r not sent to %r: the dispatcher is closed", alert.monitor, name
                        )
                        self.failed += 1
                    elif name not in self.channels:
                        known = ", ".join(sorted(self.channels)) or "none"
                        log.error(
                            "notification for monitor %r not sent: no channel named %r (channels: %s)",
                            alert.monitor,
                            name,
                            known,
                        )
                        self.failed += 1
                    else:
                        heapq.heappush(self._queue, _Delivery(self._clock(), next(self._seq), name, alert))
                self._lock.notify_all()
            self._wake.set()
        except Exception:  # a bug here must not take the monitor run down with it
            log.exception("could not queue notification for monitor %r", getattr(alert, "monitor", "?"))

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued delivery is sent or given up; False if ``timeout_s`` ran out first."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue and not self._busy, timeout=timeout_s)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._busy

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; deliveries not yet attempted or waiting for a retry are given up (counted in ``failed``).

        Call ``flush`` first to let them finish. Waits up to ``timeout_s`` for an attempt in progress.
        """
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._wake.set()
        self._thread.join(timeout_s)

    def _wait_for_work(self, seconds: float) -> None:
        self._wake.wait(seconds)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._queue or self._closed)
                if self._closed:
                    self._abandon()
                    return
                delay = self._queue[0].due - self._clock()
                delivery = heapq.heappop(self._queue) if delay <= 0 else None
                if delivery is not None:
                    self._busy += 1
                else:
                    self._wake.clear()
            if delivery is None:
                self._sleep(delay)
                continue
            try:
                self._attempt(delivery)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def _abandon(self) -> None:
        for delivery in self._queue:
            log.error(
                "notification to channel %r for monitor %r metric %r given up: dispatcher closed before attempt %d",
                delivery.channel_name,
                delivery.alert.monitor,
                delivery.alert.metric,
                delivery.attempt,
            )
        self.failed += len(self._queue)
        self._queue.clear()
        self._lock.notify_all()

    def _send(self, channel: Channel, alert: Alert) -> None:
        if isinstance(channel, EmailChannel):
            send_email(channel, alert, self.env)
        else:
            send_webhook(channel, alert, self.env)

    def _attempt(self, delivery: _Delivery) -> None:
        name, alert = delivery.channel_name, delivery.alert
        try:
            self._send(self.channels[name], alert)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if getattr(exc, "retry", True) and delivery.attempt < self.max_attempts:
                delay = min(self.backoff_s * 2 ** (delivery.attempt - 1), self.max_backoff_s)
                log.warning(
                    "%s notification to channel %r for monitor %r metric %r failed (attempt %d of %d), "
                    "retrying in %.0fs: %s",
                    alert.kind,
                    name,
                    alert.monitor,
                    alert.metric,
                    delivery.attempt,
                    self.max_attempts,
                    delay,
                    error,
                )
                with self._lock:
                    delivery.attempt += 1
                    delivery.due = self._clock() + delay
                    delivery.seq = next(self._seq)
                    heapq.heappush(self._queue, delivery)
                    self.retried += 1
            else:
                why = "not retried" if delivery.attempt < self.max_attempts else f"after {delivery.attempt} attempts"
                log.error(
                    "%s notification to channel %r for monitor %r metric %r given up (%s): %s",
                    alert.kind,
                    name,
                    alert.monitor,
                    alert.metric,
                    why,
                    error,
                )
                with self._lock:
                    self.failed += 1
        else:
            log.info(
                "%s notification for monitor %r metric %r sent to channel %r",
                alert.kind,
                alert.monitor,
                alert.metric,
                name,
            )
            with self._lock:
                self.sent += 1
