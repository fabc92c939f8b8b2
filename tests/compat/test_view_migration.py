"""Schema v3 replaces the view deriving llm_calls (013) with one that maps what the compat suite found
the first view missed: a v2 store is migrated in place, its calls stay as derived, and new spans get
the new mapping."""

from __future__ import annotations

import datetime as dt
import uuid

from llmsight.store import schema
from llmsight.store.client import open_client
from llmsight.store.url import parse_store_url
from tests.collector.direct_rows import insert_span

START = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # inside the TTL


OFFICIAL_ERROR = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "error.type": "<class 'openai.RateLimitError'>",
}
OFFICIAL_STREAM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.output.messages": '[{"role":"assistant","parts":[{"content":"Hi.","type":"text"}],"finish_reason":"stop"}]',
}
OPENLLMETRY_STREAM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.is_streaming": "true",
}
OPENLLMETRY_EMBEDDINGS = {
    "gen_ai.operation.name": "embeddings",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "text-embedding-3-small",
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "alpha"}]}, '
    '{"role": "user", "parts": [{"type": "text", "content": "beta"}]}]',
}
CHUNKS = [("gen_ai.content.completion.chunk", {}, 0.25), ("gen_ai.content.completion.chunk", {}, 0.5)]


def _spans(client, prefix: str) -> None:
    insert_span(client, OFFICIAL_ERROR, status="Error", trace_id=prefix + "1" * 31, start=START)
    insert_span(client, OFFICIAL_STREAM, trace_id=prefix + "2" * 31, start=START)
    insert_span(client, OPENLLMETRY_STREAM, events=CHUNKS, status="Ok", trace_id=prefix + "3" * 31, start=START)
    insert_span(client, OPENLLMETRY_EMBEDDINGS, trace_id=prefix + "4" * 31, start=START)


def _calls(client, prefix: str) -> list[tuple]:
    return client.query(
        "SELECT ErrorType, FinishReasons, TimeToFirstChunk, Prompt FROM llm_calls "
        f"WHERE startsWith(TraceId, '{prefix}') ORDER BY TraceId"
    ).result_rows


def test_v2_store_gets_the_peer_fixes_and_keeps_its_calls(chdb_path, monkeypatch):
    store = parse_store_url(f"chdb://{chdb_path}?database=mig_{uuid.uuid4().hex[:8]}")
    client = open_client(store, database=False)
    monkeypatch.setattr(schema, "MIGRATIONS", {v: schema.MIGRATIONS[v] for v in range(1, 3)})
    assert schema.init_schema(client, store).version_after == 2
    client.database = store.database
    _spans(client, "a")
    before = _calls(client, "a")
    assert before[0][0] == "<class 'openai.RateLimitError'>" and before[3][3] == "beta"  # the first view's

    monkeypatch.undo()
    report = schema.init_schema(client, store)
    assert (report.version_before, report.version_after) == (2, schema.SCHEMA_VERSION)
    assert report.applied[:2] == ["012_llm_calls_mv_drop.sql", "013_llm_calls_mv.sql"]
    _spans(client, "b")
    assert _calls(client, "b") == [
        ("RateLimitError", [], None, ""),  # the class's repr, shortened like every error type
        ("", ["stop"], None, ""),  # from the output messages' finish_reason
        ("", [], 0.25, ""),  # OpenLLMetry's first chunk event
        ("", [], None, "alpha\nbeta"),  # an embeddings call's inputs are one prompt
    ]
    assert _calls(client, "a") == before  # calls derived before stay as they were
    assert int(client.command("SELECT count() FROM otel_traces")) == 8
    assert schema.init_schema(client, store).applied == []
    client.command(f"DROP DATABASE `{store.database}` SYNC")
