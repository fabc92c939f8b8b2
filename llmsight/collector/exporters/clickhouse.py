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
from llmsight.collector.exporters.batches import TRACES, Batch, merge, python_rows, split, take
from llmsight.collector.exporters.failures import DEDUPLICATE_VIEWS, RejectedBatch, clickhouse_code, transient
from llmsight.collector.exporters.otlp_insert import NeedsPricing, NeedsPython, SqlTraceInsert, Unsupported
from llmsight.collector.exporters.pacing import Pacer
from llmsight.collector.otlp_rows import Rows
from llmsight.collector.pipeline import Processor, SpooledRecord
from llmsight.collector.spool import Position, Record, Spool
from llmsight.collector.telemetry import Telemetry

log = logging.getLogger("llmsight.collector")

__all__ = ["DEDUPLICATE_VIEWS", "ClickHouseExporter", "RejectedBatch", "merge"]  # merge: for the benchmarks

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
        sql_decoder: SqlTraceInsert | None = None,
        known_models: Callable[[], frozenset[tuple[str, str]]] = frozenset,
        max_batch_bytes: int = 32 << 20,
        sql_min_spans: int = 1,
    ) -> None:
        """``sql_decoder``: let ClickHouse decode trace requests (None: the Python decoder does all);
        ``known_models``: the (provider, model) pairs already priced (see processors/pricing.py)."""
        self._processors = processors or []
        self._sql = sql_decoder
        self._sql_failures = 0  # batches in a row ClickHouse rejected from the SQL decoder
        self._sql_min_spans = sql_min_spans
        self._known_models = known_models
        self._client_factory = client_factory
        self._spool = spool
        self._telemetry = telemetry
        # Spool records are read by size: the bytes cap bounds memory whatever the spans hold.
        self._max_batch_bytes = max_batch_bytes
        self._max_batch_spans = max_batch
        self._pacer = Pacer(min_interval_s)
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmsight-exporter", daemon=True)
        self._client: Any = None
        telemetry.gauge("llmsight_spool_write_errors_total", lambda: float(spool.write_errors))
        telemetry.gauge("llmsight_spool_write_seconds_total", lambda: spool.write_seconds)

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
            batch, _ = self._decode(records, whole=True)  # exactly the range of the interrupted insert
            self._insert_batch(batch, _span(start, end))
            if self._abandon.is_set():
                return
            self._retry("move the spool checkpoint", spool.commit, end)
        batches: queue.Queue[tuple[Position, Position, Batch] | None] = queue.Queue(maxsize=1)
        decoder = threading.Thread(target=self._decode_loop, args=(batches,), name="llmsight-decoder", daemon=True)
        decoder.start()
        while not self._abandon.is_set():
            item = batches.get()
            if item is None:
                break
            start, end, batch = item
            started = time.monotonic()
            if batch:
                self._retry("record the batch in the spool checkpoint", spool.begin, start, end)
                if self._abandon.is_set():
                    return
                self._insert_batch(batch, _span(start, end))
                if self._abandon.is_set():
                    return
            self._retry("move the spool checkpoint", spool.commit, end)
            self._pacer.done(time.monotonic() - started)
        if self._client is not None:
            self._client.close()

    def _decode_loop(self, batches: queue.Queue) -> None:
        spool = self._spool
        position = spool.committed
        backlog = False  # the last batch filled a cap: more is waiting, read it at once (see pacing.py)
        while not self._abandon.is_set():
            if not spool.wait_for_data(position, 0.2):
                if self._stopping.is_set():
                    break
                continue
            self._pacer.wait(backlog or self._stopping.is_set(), self._stopping)
            limit = spool.written
            records = self._retry("read the spool", spool.read, position, self._max_batch_bytes, limit)
            if records is None:
                break
            batch, used = self._decode(records)
            backlog = used < len(records) or sum(len(r.payload) for r in records) >= self._max_batch_bytes
            # No records before ``limit`` means a segment's end or a torn, never acknowledged tail: skip it.
            end = records[used - 1].end if records else limit
            self._pacer.handed_over()
            batches.put((position, end, batch))
            position = end
        batches.put(None)

    def _decode(self, records: list[Record], whole: bool = False) -> tuple[Batch, int]:
        """A batch of at most ``max_batch`` spans or log records from the front of ``records`` (all of them if
        ``whole``), and how many records it used."""
        taken = take(records, self._max_batch_spans, whole)
        for record in taken.unreadable:  # validated on receipt, so this is a bug: keep the record aside, go on
            log.error("cannot read spooled record at %s; kept in the dead-letter directory", record.start)
            self._dead_letter(f"record-{record.start[0]}.{record.start[1]}", record.payload)
        batch, python = split(taken.records, self._sql is not None, self._sql_min_spans)
        batch.tables = self._python(python)
        return batch, taken.used

    def _python(self, records: list[SpooledRecord]) -> dict[str, Rows]:
        started = time.perf_counter()
        try:
            return python_rows(records, self._processors)
        except Exception:  # a bug: keep the records aside rather than lose the batch or stop
            log.exception("cannot decode %d spooled record(s); kept in the dead-letter directory", len(records))
            self._dead_letter(f"records-{time.time_ns()}", marshal.dumps([r.body for r in records]))
            return {}
        finally:
            self._telemetry.add("llmsight_python_decode_seconds_total", time.perf_counter() - started)

    def _insert_batch(self, batch: Batch, where: str) -> None:
        tables = dict(batch.tables)
        if batch.trace_bodies:
            outcome = self._insert_sql(batch, f"{self._spool.instance_id}:{where}:{TRACES}")
            if outcome == "abandoned":
                return
            if outcome == "refused":  # nothing was written: the Python decoder takes the batch, same token
                self._telemetry.add("llmsight_python_fallback_batches_total")
                records = [SpooledRecord("traces", body, {}, None) for body in batch.trace_bodies]
                tables.update(self._python(records))  # the batch has no other traces
        for table, rows in tables.items():
            if not rows.count:
                continue
            try:
                stored = self._insert(table, rows, f"{self._spool.instance_id}:{where}:{table}")
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
            if not stored:
                return
            self._telemetry.add(STORED_COUNTER.get(table, "llmsight_stored_spans_total"), rows.count)
            if table == TRACES:
                self._telemetry.add("llmsight_python_decoded_spans_total", rows.count)

    def _insert_sql(self, batch: Batch, token: str) -> str:
        """Insert trace requests through the SQL decoder: "stored", "abandoned", or "refused" (for Python).

        Besides the batches it sends back by design (NeedsPython, NeedsPricing), a batch ClickHouse
        keeps rejecting goes to the Python decoder too: a store the SQL decoder does not work with
        (too old, or a server setting in the way) must not cost data. Three in a row turn it off.
        """
        sql = self._sql
        assert sql is not None

        def insert(client: Any) -> None:
            sql.insert(client, batch.trace_bodies, token, self._known_models(), DEDUPLICATE_VIEWS)

        try:
            if not self._attempt(TRACES, insert):
                return "abandoned"
        except (NeedsPython, NeedsPricing):
            return "refused"
        except (Unsupported, RejectedBatch) as exc:
            self._sql_failures += 1
            if isinstance(exc, Unsupported) or self._sql_failures >= 3:
                log.warning("ClickHouse cannot decode OTLP itself (%s); the Python decoder takes over", exc)
                self._sql = None
            else:
                log.warning("ClickHouse refused the SQL decoder's insert (%s); the Python decoder takes it", exc)
            return "refused"
        self._sql_failures = 0
        self._telemetry.add("llmsight_stored_spans_total", batch.spans)
        self._telemetry.add("llmsight_sql_decoded_spans_total", batch.spans)
        return "stored"

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

    def _insert(self, table: str, rows: Rows, token: str) -> bool:
        def insert(client: Any) -> None:
            client.insert(
                table,
                rows.data,
                column_names=rows.columns,
                column_oriented=True,
                # A replayed batch that had landed is dropped by otel_traces; without the second
                # setting its views would still get it, and llm_calls would count it twice.
                settings={"insert_deduplication_token": token, **DEDUPLICATE_VIEWS},
            )

        return self._attempt(table, insert)

    def _attempt(self, table: str, insert: Callable[[Any], None]) -> bool:
        """``insert(client)``, retrying connection and transient errors for as long as it takes; False if abandoned.

        An error ClickHouse gives for the data itself (a bad value, say) would repeat forever and
        block everything behind it, so after five tries the batch is set aside (RejectedBatch).
        The SQL decoder's refusals (NeedsPython, NeedsPricing, Unsupported) go straight to the caller.
        """
        delay = 0.2
        attempts = 0
        while True:
            started = time.perf_counter()
            try:
                if self._client is None:
                    self._client = self._client_factory()
                insert(self._client)
                self._telemetry.add("llmsight_inserts_total")
                self._telemetry.add("llmsight_insert_seconds_total", time.perf_counter() - started)
                return True
            except (NeedsPython, NeedsPricing, Unsupported):
                raise
            except Exception as exc:
                self._telemetry.add("llmsight_insert_errors_total")
                self._client = None
                attempts += 1
                code = clickhouse_code(exc)
                if code is not None and not transient(code, exc) and attempts >= 5:
                    raise RejectedBatch(str(exc).splitlines()[0][:300]) from exc
                log.warning(
                    "insert into %s failed, retrying in %.1fs: %s", table, delay, str(exc).splitlines()[0][:200]
                )
                if self._abandon.wait(delay):
                    return False
                delay = min(delay * 2, 5.0)


def _span(start: Position, end: Position) -> str:
    """A batch's place in the spool: the same after a crash, so its token is too."""
    return f"{start[0]}.{start[1]}-{end[0]}.{end[1]}"
