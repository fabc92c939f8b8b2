"""When the exporter's next insert may start, so that a trickle of spans costs little CPU.

Every ClickHouse insert has a fixed cost, whatever it holds: ~0.1 s of CPU to analyse the
statement and the materialized views behind ``otel_traces``. A collector inserting every 200 ms
under a trickle (a small app sending ten spans a second) burned ~70% of a core doing that.

So, unless a backlog is waiting (the last batch filled a cap), the next batch is read only once
the previous insert has finished, and after an interval: at least ``LLMSIGHT_BATCH_TIMEOUT_MS``,
stretched so that inserting takes about a tenth of the time, and at most ``STRETCH`` times the
timeout (with the default, data lands within about a second). Under load batches fill and go
back to back, as before.
"""

from __future__ import annotations

import threading
import time

INSERT_SHARE = 0.1  # while there is no backlog, inserting takes about this share of the time
STRETCH = 5  # the interval grows to at most this many times LLMSIGHT_BATCH_TIMEOUT_MS


class Pacer:
    """Shared by the exporter's two threads: the decoder ``wait``s, the inserter says when it is ``done``."""

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._changed = threading.Condition()
        self._outstanding = 0  # batches handed over and not yet inserted
        self._last_end = 0.0  # time.monotonic() when the last insert finished
        self._last_seconds = 0.0  # how long it took

    def interval(self) -> float:
        """Least time from the end of one insert to the start of reading the next batch."""
        stretched = self._last_seconds * (1 / INSERT_SHARE - 1)
        return min(max(self.min_interval_s, stretched), STRETCH * self.min_interval_s)

    def wait(self, backlog: bool, stop: threading.Event) -> None:
        """Before reading the next batch: at once with a ``backlog`` or once ``stop`` is set, else paced."""
        if backlog:
            return
        with self._changed:
            while self._outstanding:  # the previous batch is still being inserted
                if stop.is_set():
                    return
                self._changed.wait(0.1)
            pause = self._last_end + self.interval() - time.monotonic()
        if pause > 0:
            stop.wait(pause)

    def handed_over(self) -> None:
        """The decoder passed a batch to the inserter."""
        with self._changed:
            self._outstanding += 1

    def done(self, seconds: float) -> None:
        """The inserter finished a batch, in ``seconds``."""
        with self._changed:
            self._outstanding -= 1
            self._last_seconds = seconds
            self._last_end = time.monotonic()
            self._changed.notify_all()
