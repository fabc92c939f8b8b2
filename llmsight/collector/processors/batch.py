"""Batching with group commit: many requests share one ClickHouse insert.

A receiver offers its decoded rows and gets a future; the exporter thread takes everything
waiting (up to ``max_batch`` rows), inserts it in one statement per table, and resolves every
future in the batch. Batches form while the previous insert runs, so they grow with load;
``min_interval`` spaces inserts out under light load, so a trickle of small requests does not
become a flood of tiny ClickHouse parts. Waiting for a fixed batch size instead would stall
senders that wait for their acknowledgement before sending more. A request is acknowledged only
after its rows are stored, so an acknowledged span is never lost. The queue is bounded in rows
and bytes; a full queue refuses new work so receivers can answer 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from llmsight.collector.otlp import Rows


@dataclass
class Pending:
    table: str
    rows: Rows
    nbytes: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


class QueueFull(Exception):
    """The in-memory queue is at its bound; the sender should retry later."""


class BatchQueue:
    def __init__(self, max_rows: int, max_bytes: int, max_batch: int, min_interval_s: float) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_batch = max_batch
        self.min_interval_s = min_interval_s
        self._last_take = 0.0
        self._items: deque[Pending] = deque()
        self._rows = 0
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        return self._bytes

    def offer(self, table: str, rows: Rows, nbytes: int) -> asyncio.Future[None]:
        """Queue rows for insert; the future completes when they are stored. Raises QueueFull."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closed:
                raise QueueFull("collector is shutting down")
            # One request larger than the whole bound is still accepted into an empty queue.
            if self._items and (self._rows + rows.count > self.max_rows or self._bytes + nbytes > self.max_bytes):
                raise QueueFull("queue full")
            self._items.append(Pending(table, rows, nbytes, loop, future))
            self._rows += rows.count
            self._bytes += nbytes
            self._cond.notify()
        return future

    def take(self) -> list[Pending] | None:
        """Block until a batch is due; None when closed and drained."""
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                self._cond.wait(0.5)
            deadline = self._last_take + self.min_interval_s
            while self._rows < self.max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch: list[Pending] = []
            taken = 0
            while self._items and (not batch or taken + self._items[0].rows.count <= self.max_batch):
                item = self._items.popleft()
                batch.append(item)
                taken += item.rows.count
                self._rows -= item.rows.count
                self._bytes -= item.nbytes
            self._last_take = time.monotonic()
            return batch

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def resolve(batch: list[Pending], error: BaseException | None) -> None:
    """Complete the futures of a batch from the exporter thread."""
    for item in batch:
        callback: Callable[..., None]
        if error is None:
            callback = _set_result
            item.loop.call_soon_threadsafe(callback, item.future, None)
        else:
            item.loop.call_soon_threadsafe(_set_exception, item.future, error)


def _set_result(future: asyncio.Future[None], value: None) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
