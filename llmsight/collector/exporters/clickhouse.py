"""The ClickHouse exporter: a thread that drains the batch queue into one insert per table.

It owns its own store client (chDB clients are per thread). An insert that fails is retried
with backoff for ``retry_s`` seconds; after that the batch's requests get an error and their
senders retry, so nothing acknowledged is lost and nothing unacknowledged is pretended stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from llmsight.collector.otlp import Rows
from llmsight.collector.processors.batch import BatchQueue, Pending, resolve
from llmsight.collector.telemetry import Telemetry

log = logging.getLogger("llmsight.collector")

STORED_COUNTER = {"otel_traces": "llmsight_stored_spans_total", "otel_logs": "llmsight_stored_log_records_total"}

Processor = Callable[[str, Rows], None]


class StoreWriteError(RuntimeError):
    """ClickHouse did not accept a batch within the retry window."""


class ClickHouseExporter:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        queue: BatchQueue,
        telemetry: Telemetry,
        processors: Sequence[Processor] = (),
        retry_s: float = 10.0,
    ) -> None:
        self._client_factory = client_factory
        self._queue = queue
        self._telemetry = telemetry
        self._processors = list(processors)
        self._retry_s = retry_s
        self._thread = threading.Thread(target=self._run, name="llmsight-exporter", daemon=True)
        self._client: Any = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking new work, insert what is queued, then return."""
        self._queue.close()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = self._queue.take()
            if batch is None:
                break
            try:
                self._export(batch)
            except BaseException as exc:  # the thread must survive anything a batch throws
                log.exception("export failed")
                resolve(batch, exc)
            else:
                resolve(batch, None)
        if self._client is not None:
            self._client.close()

    def _export(self, batch: list[Pending]) -> None:
        by_table: dict[str, list[Rows]] = {}
        for item in batch:
            by_table.setdefault(item.table, []).append(item.rows)
        for table, parts in by_table.items():
            merged = merge(parts)
            for process in self._processors:
                process(table, merged)
            if merged.count:
                self._insert(table, merged)
                self._telemetry.add(STORED_COUNTER.get(table, "llmsight_stored_spans_total"), merged.count)

    def _insert(self, table: str, rows: Rows) -> None:
        deadline = time.monotonic() + self._retry_s
        delay = 0.2
        # The same rows always carry the same token, so a retried insert that had in fact
        # succeeded is dropped by ClickHouse's insert deduplication instead of stored twice.
        token = dedup_token(rows)
        while True:
            started = time.perf_counter()
            try:
                if self._client is None:
                    self._client = self._client_factory()
                self._client.insert(
                    table,
                    rows.data,
                    column_names=rows.columns,
                    column_oriented=True,
                    settings={"insert_deduplication_token": token},
                )
                self._telemetry.add("llmsight_inserts_total")
                self._telemetry.add("llmsight_insert_seconds_total", time.perf_counter() - started)
                return
            except Exception as exc:
                self._telemetry.add("llmsight_insert_errors_total")
                self._client = None
                if time.monotonic() + delay > deadline:
                    raise StoreWriteError(f"insert into {table} failed: {str(exc).splitlines()[0][:300]}") from exc
                log.warning("insert into %s failed, retrying in %.1fs: %s", table, delay, str(exc)[:200])
                time.sleep(delay)
                delay = min(delay * 2, 2.0)


def merge(parts: list[Rows]) -> Rows:
    """Concatenate rows of one table column by column."""
    if len(parts) == 1:
        return parts[0]
    columns = parts[0].columns
    data: list[list[Any]] = [[] for _ in columns]
    for part in parts:
        for target, source in zip(data, part.data, strict=True):
            target.extend(source)
    return Rows(columns, data)


def dedup_token(rows: Rows) -> str:
    """A token that identifies this exact batch: its row count and first and last ids."""
    digest = hashlib.sha256()
    digest.update(str(rows.count).encode())
    for column in rows.data[:3]:
        if column:
            digest.update(repr(column[0]).encode())
            digest.update(repr(column[-1]).encode())
    return digest.hexdigest()[:32]
