"""What the exporter inserts at once: spooled records grouped into SQL-decoded and Python-decoded parts.

Trace requests go to ClickHouse as they were received (``trace_bodies``), for its Protobuf
input format to decode (otlp_insert.py). The Python decoder takes the rest: logs, records
spooled by earlier versions with resource overrides beside them, every trace batch when a
processor must see its rows (redaction), and any batch the SQL decoder sends back. One
batch's spans are decoded one way only, so a batch replayed after a crash carries the same
deduplication token for all of them, whichever way it is decoded then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmsight.collector.otlp_rows import Rows
from llmsight.collector.pipeline import Processor, SpooledRecord, decode_body, load_record
from llmsight.collector.spool import Record

TRACES = "otel_traces"


@dataclass
class Batch:
    tables: dict[str, Rows] = field(default_factory=dict)  # decoded by Python, processors applied
    trace_bodies: list[bytes] = field(default_factory=list)  # OTLP trace requests for the SQL decoder
    spans: int = 0  # in trace_bodies (counted by the receiver)

    def __bool__(self) -> bool:
        return bool(self.tables or self.trace_bodies)


@dataclass
class Taken:
    records: list[SpooledRecord]
    unreadable: list[Record]  # records that do not load (a bug: they were validated on receipt)
    used: int  # records of the spool's list that the batch takes, the unreadable ones included


def take(records: list[Record], max_count: int, whole: bool = False) -> Taken:
    """The records of one batch from the front of ``records``: at least one, at most ``max_count`` spans or
    log records in all (all of them if ``whole``: a batch replayed after a crash is the same range)."""
    taken = Taken([], [], 0)
    count = 0
    for record in records:
        try:
            spooled = load_record(record.payload)
        except Exception:
            taken.unreadable.append(record)
            taken.used += 1
            continue
        count += spooled.count or 0
        if taken.records and count > max_count and not whole:
            break
        taken.records.append(spooled)
        taken.used += 1
    return taken


def split(records: list[SpooledRecord], sql: bool, sql_min_spans: int = 1) -> tuple[Batch, list[SpooledRecord]]:
    """A batch with the trace requests for the SQL decoder (if ``sql``), and the records left to Python.

    Records of earlier versions (no count, overrides beside the request) take all of the batch's
    traces to the Python decoder, and so does a batch of fewer than ``sql_min_spans`` spans: the SQL
    decoder's insert costs more per statement (~0.2 s of CPU against ~0.08 s) and less per span."""
    traces = [r for r in records if r.signal == "traces"]
    others = [r for r in records if r.signal != "traces"]
    batch = Batch()
    legacy = any(r.count is None or r.overrides for r in traces)
    if traces and sql and not legacy and sum(r.count or 0 for r in traces) >= sql_min_spans:
        batch.trace_bodies = [r.body for r in traces]
        batch.spans = sum(r.count or 0 for r in traces)
    else:
        others += traces
    return batch, others


def python_rows(records: list[SpooledRecord], processors: list[Processor]) -> dict[str, Rows]:
    """Decode records with the Python decoder, table by table, and process them."""
    parts: dict[str, list[Rows]] = {}
    for record in records:
        table, rows = decode_body(record.signal, record.body, record.overrides)
        parts.setdefault(table, []).append(rows)
    tables = {}
    for table, rows_list in parts.items():
        rows = merge(rows_list)
        for process in processors:
            process(table, rows)
        tables[table] = rows
    return tables


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
