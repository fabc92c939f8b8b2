"""The ClickHouse exporter: a thread that moves spooled rows into ClickHouse in large batches.

It reads what the receivers have made durable in the spool, inserts it with one statement per
table, then moves the spool's checkpoint. A failed insert is retried with backoff for as long
as it takes: the data is safe on disk meanwhile, and the receivers answer 503 only once the
spool is full. Each batch's deduplication token is derived from its place in the spool, so
replaying a batch after a crash cannot store it twice.

The thread never gives up on a disk error either: reading the spool, moving its checkpoint and
writing dead letters are retried with backoff (logged once per episode, counted in
``llmsight_spool_io_errors_total``), so a full disk stalls the exporter until space returns
instead of killing it.
"""

from __future__ import annotations

import logging
import marshal
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from llmsight.collector.checkpoint import fsync_directory, write_all
from llmsight.collector.otlp import Rows
from llmsight.collector.pipeline import Processor, decode_record
from llmsight.collector.spool import Position, Record, Spool
from llmsight.collector.telemetry import Telemetry

log = logging.getLogger("llmsight.collector")

T = TypeVar("T")

STORED_COUNTER = {"otel_traces": "llmsight_stored_spans_total", "otel_logs": "llmsight_stored_log_records_total"}


class ClickHouseExporter:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        spool: Spool,
        telemetry: Telemetry,
        max_batch: int = 20_000,
        min_interval_s: float = 0.2,
        processors: list[Processor] | None = None,
    ) -> None:
        self._processors = processors or []
        self._client_factory = client_factory
        self._spool = spool
        self._telemetry = telemetry
        # Spool records are read by size; ~2 KB a span is typical for LLM spans with content.
        self._max_batch_bytes = max_batch * 2048
        self._min_interval_s = min_interval_s
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmsight-exporter", daemon=True)
        self._client: Any = None
        self._last_insert = 0.0
        telemetry.gauge("llmsight_spool_write_errors_total", lambda: float(spool.write_errors))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Insert everything already spooled, then return; past ``timeout`` the rest stays spooled."""
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("ClickHouse did not take the remaining spooled data in time; it is kept for the next start")
            self._abandon.set()
            self._thread.join(5)

    def _run(self) -> None:
        """Insert batches in order; a second thread decodes the next batch meanwhile.

        ClickHouse releases the GIL while it inserts, so decoding (Python) and inserting
        (C++) overlap instead of taking turns.
        """
        spool = self._spool
        if spool.intent is not None:
            start, end = spool.intent
            records = self._retry("read the spool", spool.read, start, 1 << 62, end)
            if records is None:
                return
            self._insert_batch(self._decode(records), _span(start, end))
            if self._abandon.is_set():
                return
            self._retry("move the spool checkpoint", spool.commit, end)
        batches: queue.Queue[tuple[Position, Position, dict[str, Rows]] | None] = queue.Queue(maxsize=1)
        decoder = threading.Thread(target=self._decode_loop, args=(batches,), name="llmsight-decoder", daemon=True)
        decoder.start()
        while not self._abandon.is_set():
            item = batches.get()
            if item is None:
                break
            start, end, by_table = item
            if by_table:
                self._retry("record the batch in the spool checkpoint", spool.begin, start, end)
                if self._abandon.is_set():
                    return
                self._insert_batch(by_table, _span(start, end))
                if self._abandon.is_set():
                    return
            self._retry("move the spool checkpoint", spool.commit, end)
        if self._client is not None:
            self._client.close()

    def _decode_loop(self, batches: queue.Queue) -> None:
        spool = self._spool
        position = spool.committed
        while not self._abandon.is_set():
            if not spool.wait_for_data(position, 0.2):
                if self._stopping.is_set():
                    break
                continue
            if not self._stopping.is_set():
                pause = self._last_insert + self._min_interval_s - time.monotonic()
                if pause > 0:
                    self._stopping.wait(pause)
            limit = spool.written
            records = self._retry("read the spool", spool.read, position, self._max_batch_bytes, limit)
            if records is None:
                break
            # No records before ``limit`` means a segment's end or a torn, never acknowledged tail: skip it.
            end = records[-1].end if records else limit
            batches.put((position, end, self._decode(records)))
            position = end
        batches.put(None)

    def _decode(self, records: list[Record]) -> dict[str, Rows]:
        parts: dict[str, list[Rows]] = {}
        for record in records:
            try:
                table, rows = decode_record(record.payload)
            except Exception:  # validated on receipt, so this is a bug: keep the record aside, go on
                log.exception("cannot decode spooled record at %s; kept in the dead-letter directory", record.start)
                self._dead_letter(f"record-{record.start[0]}.{record.start[1]}", record.payload)
                continue
            parts.setdefault(table, []).append(rows)
        by_table = {}
        for table, rows_list in parts.items():
            rows = merge(rows_list)
            for process in self._processors:
                process(table, rows)
            by_table[table] = rows
        return by_table

    def _insert_batch(self, by_table: dict[str, Rows], where: str) -> None:
        for table, rows in by_table.items():
            if not rows.count:
                continue
            try:
                self._insert(table, rows, f"{self._spool.instance_id}:{where}:{table}")
            except RejectedBatch as exc:
                log.error(
                    "ClickHouse keeps rejecting a batch of %d rows for %s (%s); kept in the dead-letter "
                    "directory so the rest can go on",
                    rows.count,
                    table,
                    exc,
                )
                self._dead_letter(f"batch-{where}-{table}", marshal.dumps((table, rows.columns, rows.data)))
                continue
            self._telemetry.add(STORED_COUNTER.get(table, "llmsight_stored_spans_total"), rows.count)
        self._last_insert = time.monotonic()

    def _dead_letter(self, name: str, payload: bytes) -> None:
        """Keep ``payload`` aside durably: the spool deletes its copy once the checkpoint moves past it."""
        directory = self._spool.dir / "dead-letter"

        def write() -> bool:
            directory.mkdir(exist_ok=True)
            fd = os.open(directory / f"{name}.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, payload)
                if self._spool.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self._spool.fsync:
                fsync_directory(directory)
            return True

        if self._retry("write a dead-letter file", write):
            self._telemetry.add("llmsight_dead_letter_total")

    def _retry(self, what: str, action: Callable[..., T], *args: Any) -> T | None:
        """``action(*args)`` until it raises no OSError (a full disk, say); None once the exporter is abandoned."""
        delay = 0.2
        failures = 0
        while True:
            try:
                result = action(*args)
            except OSError as exc:
                failures += 1
                self._telemetry.add("llmsight_spool_io_errors_total")
                if failures == 1:
                    log.error("cannot %s (%s); retrying until it works, the data stays in the spool", what, exc)
                if self._abandon.wait(delay):
                    return None
                delay = min(delay * 2, 5.0)
                continue
            if failures:
                log.warning("could %s again after %d failed attempts", what, failures)
            return result

    def _insert(self, table: str, rows: Rows, token: str) -> None:
        """Insert, retrying connection and transient errors for as long as it takes.

        An error ClickHouse gives for the data itself (a bad value, say) would repeat forever and
        block everything behind it, so after five tries the batch is set aside (RejectedBatch).
        """
        delay = 0.2
        attempts = 0
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
                    # A replayed batch that had landed is dropped by otel_traces; without the second
                    # setting its views would still get it, and llm_calls would count it twice.
                    settings={"insert_deduplication_token": token, **DEDUPLICATE_VIEWS},
                )
                self._telemetry.add("llmsight_inserts_total")
                self._telemetry.add("llmsight_insert_seconds_total", time.perf_counter() - started)
                return
            except Exception as exc:
                self._telemetry.add("llmsight_insert_errors_total")
                self._client = None
                attempts += 1
                code = _clickhouse_code(exc)
                if code is not None and not _transient(code, exc) and attempts >= 5:
                    raise RejectedBatch(str(exc).splitlines()[0][:300]) from exc
                log.warning(
                    "insert into %s failed, retrying in %.1fs: %s", table, delay, str(exc).splitlines()[0][:200]
                )
                if self._abandon.wait(delay):
                    return
                delay = min(delay * 2, 5.0)


DEDUPLICATE_VIEWS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


class RejectedBatch(Exception):
    """ClickHouse rejects this batch's data itself; retrying will not help."""


# ClickHouse error codes that mean "try again later", not "this data is wrong"; 243 is NOT_ENOUGH_SPACE.
TRANSIENT_CODES = {3, 159, 160, 164, 202, 203, 209, 210, 236, 241, 242, 243, 252, 285, 319, 425, 439, 999, 1000}


def _transient(code: int, exc: Exception) -> bool:
    """A full disk on ClickHouse's side is an outage, whatever code it comes with (a write error, say)."""
    return code in TRANSIENT_CODES or "No space left on device" in str(exc) or "NOT_ENOUGH_SPACE" in str(exc)


def _clickhouse_code(exc: Exception) -> int | None:
    text = str(exc)
    if "Code: " not in text:
        return None
    digits = text.split("Code: ", 1)[1].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def _span(start: Position, end: Position) -> str:
    """A batch's place in the spool: the same after a crash, so its token is too."""
    return f"{start[0]}.{start[1]}-{end[0]}.{end[1]}"


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
