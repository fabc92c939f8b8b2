"""The pipeline receivers feed: decode -> queue (batch processor) -> exporter.

Both receivers call the same ``ingest_*`` methods, so HTTP and gRPC behave the same way:
invalid records are counted and reported, valid ones are stored before the call returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmsight.collector.auth import Principal
from llmsight.collector.otlp import Rows, count_metric_points, log_rows, span_rows
from llmsight.collector.processors.batch import BatchQueue, QueueFull
from llmsight.collector.telemetry import Telemetry


@dataclass
class IngestResult:
    accepted: int
    rejected: int
    error_message: str = ""


class Pipeline:
    def __init__(self, queue: BatchQueue, telemetry: Telemetry) -> None:
        self.queue = queue
        self.telemetry = telemetry

    async def ingest_traces(self, request: object, nbytes: int, principal: Principal) -> IngestResult:
        rows = span_rows(request, principal.resource_overrides())  # type: ignore[arg-type]
        self.telemetry.add("llmsight_received_spans_total", rows.count + rows.rejected)
        return await self._store("otel_traces", rows, nbytes, "llmsight_rejected_spans_total")

    async def ingest_logs(self, request: object, nbytes: int, principal: Principal) -> IngestResult:
        rows = log_rows(request, principal.resource_overrides())  # type: ignore[arg-type]
        self.telemetry.add("llmsight_received_log_records_total", rows.count + rows.rejected)
        return await self._store("otel_logs", rows, nbytes, "llmsight_rejected_spans_total")

    async def ingest_metrics(self, request: object) -> IngestResult:
        points = count_metric_points(request)  # type: ignore[arg-type]
        self.telemetry.add("llmsight_received_metric_points_total", points)
        return IngestResult(accepted=points, rejected=0)

    async def _store(self, table: str, rows: Rows, nbytes: int, rejected_counter: str) -> IngestResult:
        if rows.rejected:
            self.telemetry.add(rejected_counter, rows.rejected)
        if rows.count:
            future = self.queue.offer(table, rows, nbytes)  # raises QueueFull
            await future  # raises StoreWriteError when ClickHouse stays unavailable
        return IngestResult(rows.count, rows.rejected, "; ".join(rows.errors))


__all__ = ["IngestResult", "Pipeline", "QueueFull"]
