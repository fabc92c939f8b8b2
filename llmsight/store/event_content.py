"""A call's prompt and completion, whichever way its instrumentation sent them.

Most instrumentations put message content on the span, and the llm_calls view derives it from there.
Some send it as log events instead (the official GenAI instrumentation in EVENT_ONLY mode, OpenLLMetry
with ``use_attributes=False``): those land in ``llm_call_events`` (schema v8), keyed by the call's
SpanId. Readers fill a call's empty content fields from there with one query for the rows they are
about to show or judge, so the cost is one primary-key lookup per read, not a join over the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from string import Template
from typing import Any

from clickhouse_connect.driver.client import Client

# The fields readers take from the events when the span had none; Prompt/Completion as llm_calls defines them.
CONTENT_FIELDS = ("InputMessages", "OutputMessages", "SystemInstructions", "Prompt", "Completion")
_SQL = resources.files("llmsight.store").joinpath("read", "event_content.sql").read_text(encoding="utf-8")


def event_content(client: Client, database: str, span_ids: Iterable[str]) -> dict[tuple[str, str], dict[str, str]]:
    """(TraceId, SpanId) -> the content fields its log events carry; calls without events are absent."""
    ids = sorted({s for s in span_ids if s})
    if not ids:
        return {}
    sql = Template(_SQL).substitute(db=f"`{database}`")
    result = client.query(sql, parameters={"span_ids": ids})
    out: dict[tuple[str, str], dict[str, str]] = {}
    for row in result.named_results():
        out[(row["TraceId"], row["SpanId"])] = {f: row[f] for f in CONTENT_FIELDS}
    return out


def fill_from_events(client: Client, database: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill each row's empty content fields (of those it has) from its call's log events, in place.

    Only rows whose content fields are all empty are looked up: a call that carried its content on the
    span never costs a second read. Rows need TraceId and SpanId.
    """
    wanted = [r for r in rows if not any(r.get(f) for f in CONTENT_FIELDS)]
    found = event_content(client, database, (r["SpanId"] for r in wanted)) if wanted else {}
    for row in wanted:
        content = found.get((row["TraceId"], row["SpanId"]))
        if content is None:
            continue
        for field, value in content.items():
            if field in row and not row[field]:
                row[field] = value
    return rows
