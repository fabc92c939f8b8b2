"""Turn stored production calls into a dataset file, so the answers that went wrong become test cases.

Which calls: those a judge failed (a score below its per-call threshold), those people rated
negatively, both (a union, each row saying why it was picked), or, with neither, every call in the
window. The SQL is two questions in the query layer: ``dataset_calls`` picks at most ``limit`` calls
newest first reading light columns only, and ``dataset_call_content`` reads just those calls'
content by span id. A row's question, context, answer and ground truth are built exactly as the
evaluator builds what it judges (``build_inputs`` over the call, retrieval spans of its trace when
the call carried no documents, content sent as log events), so an exported case is the case that
was judged.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmsight.experiments.dataset import DatasetRow, write_dataset
from llmsight.queries import Filters, ask

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")  # what write_dataset and load_dataset read
RECENT = "recent"  # the reason of a call picked only for being in the window (no --failing / --negative-feedback)
NEGATIVE_FEEDBACK = "negative_feedback"
FAILING = "failing:"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class ExportError(ValueError):
    """A request that cannot be exported as asked; the message says what to change."""


@dataclass(frozen=True)
class Selection:
    """Which calls to export. Neither ``failing`` nor ``negative_feedback``: every call in the window."""

    since_s: float = 7 * 86400
    failing: bool = False
    negative_feedback: bool = False
    metrics: tuple[str, ...] = ()  # with ``failing``: only scores of these metrics count
    service: str = ""
    environment: str = ""
    model: str = ""
    limit: int = 200

    def filters(self) -> Filters:
        return Filters(service=self.service, environment=self.environment, model=self.model, metrics=self.metrics)


@dataclass
class Export:
    """What an export found and wrote. ``rows`` is empty when no call matched or none had a question."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    matched: int = 0  # calls picked (at most the limit), including the skipped ones
    skipped_no_question: int = 0
    more: bool = False  # more calls matched than the limit let through
    reasons: Counter[str] = field(default_factory=Counter)  # rows written per reason


def check_request(path: Path, selection: Selection, *, force: bool) -> None:
    """Refuse before asking the store anything: a wrong name should not cost a query over a week of calls."""
    if selection.metrics and not selection.failing:
        raise ExportError("--metric names which failing scores count: use it with --failing")
    if any(not name or "," in name for name in selection.metrics):
        raise ExportError(f"--metric: bad metric name list {','.join(selection.metrics)!r}")
    if selection.limit < 1:
        raise ExportError("--limit must be at least 1")
    if path.suffix.lower() not in SUFFIXES:
        raise ExportError(f"{path}: unknown format {path.suffix or '(no extension)'}; use .jsonl or .csv")
    if path.exists() and not force:
        raise ExportError(f"{path} already exists; pass --force to overwrite it")
    if path.exists() and not path.is_file():
        raise ExportError(f"{path} is not a file")
    if not path.parent.is_dir():
        raise ExportError(f"{path.parent} is not a directory")


def _order(reasons: Sequence[str]) -> list[str]:
    """Failing metrics by name, then negative feedback: the same call lists its reasons the same way every run."""
    return sorted(set(reasons), key=lambda r: (r == NEGATIVE_FEEDBACK, r))


def iso_utc(ns: int) -> str:
    """Epoch nanoseconds as ISO 8601 UTC to the microsecond (``2026-01-31T12:00:00.123456Z``)."""
    moment = _EPOCH + dt.timedelta(microseconds=int(ns) // 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def select_calls(
    client: Any, database: str, selection: Selection, now: dt.datetime
) -> tuple[list[dict[str, Any]], bool]:
    """The picked calls (span_id, trace_id, timestamp_ns, service, reasons), newest first; and whether the
    limit cut some off (one more than the limit is asked for, to know)."""
    start = now - dt.timedelta(seconds=selection.since_s)
    picks = ask(
        client,
        database,
        "dataset_calls",
        start,
        now,
        selection.filters(),
        failing=int(selection.failing),
        negative_feedback=int(selection.negative_feedback),
        limit=selection.limit + 1,
    )
    return picks[: selection.limit], len(picks) > selection.limit


def build_rows(
    client: Any, database: str, picks: list[dict[str, Any]], start: dt.datetime, end: dt.datetime
) -> tuple[list[dict[str, Any]], int]:
    """Dataset rows for the picked calls, in their order, and how many were skipped for having no question."""
    from llmsight.evaluator.inputs import build_inputs
    from llmsight.evaluator.sampling import retrieval_documents
    from llmsight.store.event_content import fill_from_events

    if not picks:
        return [], 0
    calls = ask(client, database, "dataset_call_content", start, end, span_ids=[p["span_id"] for p in picks])
    calls = fill_from_events(client, database, calls)
    retrieved = retrieval_documents(client, database, calls)
    by_span = {c["SpanId"]: c for c in calls}
    rows: list[dict[str, Any]] = []
    skipped = 0
    for pick in picks:
        call = by_span.get(pick["span_id"])
        inputs = build_inputs(call, retrieved.get(pick["span_id"], ())) if call else None
        if inputs is None or not inputs.question.strip():
            skipped += 1
            continue
        row = DatasetRow(
            id=pick["span_id"],
            question=inputs.question,
            context=tuple(inputs.context),
            ground_truth=inputs.ground_truth,
            answer=inputs.answer,
        ).as_dict()
        row["source"] = {
            "trace_id": pick["trace_id"],
            "span_id": pick["span_id"],
            "service": pick["service"],
            "timestamp": iso_utc(pick["timestamp_ns"]),
            "reasons": _order(pick["reasons"]),
        }
        rows.append(row)
    return rows, skipped


def _write(path: Path, rows: list[dict[str, Any]], *, force: bool) -> None:
    """Write beside the target and rename: an interrupted export leaves no half file (and keeps an old one)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        write_dataset(tmp, rows)
        if path.exists() and not force:  # appeared while we were querying
            raise ExportError(f"{path} already exists; pass --force to overwrite it")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def export_dataset(
    client: Any,
    database: str,
    path: str | Path,
    selection: Selection,
    *,
    force: bool = False,
    now: dt.datetime | None = None,
) -> Export:
    """Pick, build and write; nothing is written when no row results (``Export.rows`` is then empty)."""
    path = Path(path)
    check_request(path, selection, force=force)
    now = now or dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(seconds=selection.since_s)
    picks, more = select_calls(client, database, selection, now)
    rows, skipped = build_rows(client, database, picks, start, now)
    result = Export(path, rows, matched=len(picks), skipped_no_question=skipped, more=more)
    for row in rows:
        result.reasons.update(row["source"]["reasons"])
    if rows:
        _write(path, rows, force=force)
    return result
