"""The SQL decoder (ClickHouse reading OTLP itself) stores exactly what the Python decoder stores.

Both decoders take the same requests into two databases of the same engine and schema; every
column of every row of otel_traces and of the views' tables must be equal. The corpus is built
from a seeded generator over every kind of value OTLP allows, including the ones that are easy
to get wrong (doubles, control characters, bytes, nested arrays and lists, bad link ids).
"""

from __future__ import annotations

import math
import random
import struct
import time
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from llmsight.collector.exporters.batches import python_rows
from llmsight.collector.exporters.clickhouse import DEDUPLICATE_VIEWS
from llmsight.collector.exporters.otlp_insert import NeedsPricing, NeedsPython, SqlTraceInsert
from llmsight.collector.otlp_values import format_double
from llmsight.collector.pipeline import SpooledRecord
from llmsight.store.client import open_client
from llmsight.store.schema import init_schema
from llmsight.store.url import parse_store_url

TABLES = {  # table -> its unique order
    "otel_traces": "SpanId",
    "llm_calls": "SpanId",
    "otel_traces_trace_id_ts": "TraceId",
    "llm_call_events": "SpanId, Timestamp",
    "call_response_ids FINAL": "ALL",  # a ReplacingMergeTree: a replay's copy is replaced, not dropped
}
TEXTS = ["", "plain", "a/b", 'q"uote', "back\\slash", "nl\n\r\t\b\f", "\x01\x1f\x7f", "é€😀", "\u2028\u2029", "0"]
DOUBLES = [0.0, -0.0, 0.2, 1.0, 100.0, 1e16, 1e21, 1.5e-7, 1e-5, 0.1 + 0.2, math.inf, -math.inf, math.nan, 5e-324]


def scalar(rng: random.Random) -> AnyValue:
    kind = rng.randrange(6)
    if kind == 0:
        return AnyValue(string_value=rng.choice(TEXTS))
    if kind == 1:
        return AnyValue(bool_value=rng.random() < 0.5)
    if kind == 2:
        return AnyValue(int_value=rng.choice([0, -1, 7, 2**63 - 1, -(2**63)]))
    if kind == 3:
        if rng.random() < 0.5:
            return AnyValue(double_value=rng.choice(DOUBLES))
        return AnyValue(double_value=struct.unpack("<d", rng.randbytes(8))[0])
    if kind == 4:
        return AnyValue(bytes_value=rng.randbytes(rng.randrange(5)))
    return AnyValue()  # nothing set


def value(rng: random.Random, depth: int = 0) -> AnyValue:
    """Any value; arrays and lists of scalars (what the SQL decoder reads)."""
    roll = rng.random()
    if depth < 1 and roll < 0.15:
        result = AnyValue()
        result.array_value.values.extend(value(rng, depth + 1) for _ in range(rng.randrange(4)))
        return result
    if depth < 1 and roll < 0.25:
        result = AnyValue()
        for i in range(rng.randrange(4)):
            result.kvlist_value.values.append(KeyValue(key=f"k{i}{rng.choice(TEXTS)}", value=value(rng, depth + 1)))
        return result
    return scalar(rng)


def attributes(rng: random.Random, n: int) -> list[KeyValue]:
    return [KeyValue(key=f"attr.{i}{rng.choice(TEXTS)}", value=value(rng)) for i in range(n)]


def llm_attributes(rng: random.Random) -> list[KeyValue]:
    model = rng.choice(["gpt-4o-mini", "claude-3-5-haiku", "unknown-model"])
    return [
        KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
        KeyValue(key="gen_ai.provider.name", value=AnyValue(string_value="openai")),
        KeyValue(key="gen_ai.request.model", value=AnyValue(string_value=model)),
        KeyValue(key="gen_ai.response.id", value=AnyValue(string_value=f"resp-{rng.getrandbits(32)}")),
        KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=rng.randrange(1000))),
        KeyValue(key="gen_ai.request.temperature", value=AnyValue(double_value=rng.choice([0.2, 1.0, 0.7]))),
        KeyValue(key="gen_ai.input.messages", value=AnyValue(string_value='[{"role":"user","parts":[]}]')),
    ]


def corpus(seed: int, requests: int = 6) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time_ns()
    bodies = []
    for _ in range(requests):
        request = ExportTraceServiceRequest()
        for r in range(rng.randrange(1, 3)):
            resource_spans = request.resource_spans.add()
            if r == 0 or rng.random() < 0.5:
                resource_spans.resource.attributes.append(
                    KeyValue(key="service.name", value=AnyValue(string_value=f"svc-{rng.randrange(3)}"))
                )
            resource_spans.resource.attributes.extend(attributes(rng, rng.randrange(3)))
            for _ in range(rng.randrange(1, 3)):
                scope_spans = resource_spans.scope_spans.add()
                scope_spans.scope.name = rng.choice(["", "llmsight", "openllmetry"])
                scope_spans.scope.version = rng.choice(["", "1.2.3"])
                for _ in range(rng.randrange(1, 6)):
                    span = scope_spans.spans.add()
                    span.trace_id = rng.randbytes(16)
                    span.span_id = rng.randbytes(8)
                    span.parent_span_id = rng.choice([b"", rng.randbytes(8)])
                    span.trace_state = rng.choice(["", "k=v"])
                    span.name = rng.choice(TEXTS[1:])
                    span.kind = rng.choice([0, 1, 2, 3, 4, 5])
                    span.start_time_unix_nano = now - rng.randrange(10**12)
                    span.end_time_unix_nano = span.start_time_unix_nano + rng.choice([0, -5, 10**9])
                    span.attributes.extend(llm_attributes(rng) if rng.random() < 0.5 else [])
                    span.attributes.extend(attributes(rng, rng.randrange(6)))
                    span.status.code = rng.choice([0, 1, 2])
                    span.status.message = rng.choice(TEXTS)
                    for _ in range(rng.randrange(3)):
                        event = span.events.add()
                        event.time_unix_nano = rng.choice([now, 2**64 - 1])
                        event.name = rng.choice(["exception", "gen_ai.content.prompt", "x"])
                        event.attributes.extend(attributes(rng, rng.randrange(3)))
                    for _ in range(rng.randrange(2)):
                        link = span.links.add()
                        link.trace_id = rng.choice([rng.randbytes(16), b"short"])
                        link.span_id = rng.choice([rng.randbytes(8), b""])
                        link.trace_state = rng.choice(["", "a=b"])
                        link.attributes.extend(attributes(rng, rng.randrange(3)))
        bodies.append(request.SerializeToString())
    return bodies


@pytest.fixture
def two_databases(chdb_path, tmp_path):
    """(python client, sql client, SqlTraceInsert) on two fresh databases of the session's engine."""
    clients = []
    for name in ("py", "sql"):
        store = parse_store_url(f"chdb://{chdb_path}?database=t_{name}_{tmp_path.name[-12:].replace('-', '_')}")
        init_schema(open_client(store, database=False), store, retention_days=0)
        clients.append(open_client(store))
    yield clients[0], clients[1], SqlTraceInsert(embedded=True, scratch_dir=tmp_path)
    for client in clients:
        client.command(f"DROP DATABASE IF EXISTS `{client.database}` SYNC")
        client.close()


def insert_python(client: Any, bodies: list[bytes], token: str = "") -> None:
    rows = python_rows([SpooledRecord("traces", body, {}, None) for body in bodies], [])["otel_traces"]
    settings = {"insert_deduplication_token": token, **DEDUPLICATE_VIEWS} if token else {}
    client.insert("otel_traces", rows.data, column_names=rows.columns, column_oriented=True, settings=settings)


def everything_known(client: Any) -> frozenset[tuple[str, str]]:
    """Every (provider, model) pair: pricing is not what these tests are about."""
    return frozenset({("openai", m) for m in ("gpt-4o-mini", "claude-3-5-haiku", "unknown-model")} | {("", "")})


def table_rows(client: Any, table: str) -> list[tuple]:
    order = TABLES[table]
    return client.query(f"SELECT * FROM {table} ORDER BY {order}").result_rows


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN (a double attribute of NaN reaches typed columns as NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a.items()) == list(b.items())
    return a == b


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_decoder_stores_the_rows_the_python_decoder_stores(two_databases, seed):
    py, sql, decoder = two_databases
    bodies = corpus(seed)
    insert_python(py, bodies)
    decoder.insert(sql, bodies, f"parity-{seed}", everything_known(sql), DEDUPLICATE_VIEWS)
    spans = sum(
        len(s.spans)
        for b in bodies
        for rs in ExportTraceServiceRequest.FromString(b).resource_spans
        for s in rs.scope_spans
    )
    for table in TABLES:
        expected, got = table_rows(py, table), table_rows(sql, table)
        assert len(got) == len(expected), table
        for want, have in zip(expected, got, strict=True):
            assert same(want, have), (table, want, have)
    assert len(table_rows(sql, "otel_traces")) == spans
    assert len(table_rows(sql, "llm_calls")) > 0  # the corpus has model calls: the views ran


def test_doubles_are_written_as_clickhouse_writes_them(store_client):
    rng = random.Random(5)
    values = DOUBLES + [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(400)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(200)] + [10 ** rng.uniform(-30, 30) for _ in range(200)]
    hexes = ",".join(f"'{struct.pack('<d', v).hex()}'" for v in values)
    written = store_client.query(
        f"SELECT toString(reinterpretAsFloat64(unhex(x))) FROM (SELECT arrayJoin([{hexes}]) AS x)"
    ).result_rows
    assert [format_double(v) for v in values] == [row[0] for row in written]


def deep_request() -> bytes:
    """A list holding an array: more than the SQL decoder's schema reads."""
    request = ExportTraceServiceRequest.FromString(corpus(9, requests=1)[0])
    inner = AnyValue()
    inner.array_value.values.append(AnyValue(string_value="deeper"))
    top = AnyValue()
    top.kvlist_value.values.append(KeyValue(key="nested", value=inner))
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.events.add(name="e", time_unix_nano=span.start_time_unix_nano).attributes.append(
        KeyValue(key="deep", value=top)
    )
    return request.SerializeToString()


def duplicate_key_request() -> bytes:
    request = ExportTraceServiceRequest.FromString(corpus(10, requests=1)[0])
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.append(KeyValue(key="twice", value=AnyValue(string_value="first")))
    span.attributes.append(KeyValue(key="twice", value=AnyValue(string_value="last")))
    return request.SerializeToString()


@pytest.mark.parametrize("odd", [deep_request, duplicate_key_request])
def test_a_batch_the_sql_decoder_cannot_read_is_refused_whole_and_nothing_is_written(two_databases, odd):
    py, sql, decoder = two_databases
    bodies = corpus(11) + [odd()]  # the odd request last: rows before it must not be written either
    with pytest.raises(NeedsPython):
        decoder.insert(sql, bodies, "odd", everything_known(sql), DEDUPLICATE_VIEWS)
    for table in TABLES:
        assert table_rows(sql, table) == [], table
    insert_python(sql, bodies, token="odd")  # what the exporter does next, with the same token
    insert_python(py, bodies)
    assert table_rows(sql, "otel_traces") == table_rows(py, "otel_traces")


def test_a_model_not_priced_yet_sends_the_batch_back_for_pricing(two_databases):
    _, sql, decoder = two_databases
    bodies = corpus(12)
    with pytest.raises(NeedsPricing):
        decoder.insert(sql, bodies, "price", frozenset({("openai", "gpt-4o-mini")}), DEDUPLICATE_VIEWS)
    assert table_rows(sql, "otel_traces") == []
    decoder.insert(sql, bodies, "price", everything_known(sql), DEDUPLICATE_VIEWS)
    assert table_rows(sql, "otel_traces")


def test_a_replayed_batch_is_stored_once_whichever_decoder_replays_it(two_databases):
    _, sql, decoder = two_databases
    bodies = corpus(13)
    sql.command("SYSTEM STOP MERGES")
    decoder.insert(sql, bodies, "batch-1", everything_known(sql), DEDUPLICATE_VIEWS)
    parts = sql.command(
        f"SELECT count() FROM system.parts WHERE database = '{sql.database}' AND table = 'otel_traces' AND active"
    )
    assert int(parts) == 1  # one block: what makes the token cover the whole batch, on either path
    first = {table: table_rows(sql, table) for table in TABLES}
    decoder.insert(sql, bodies, "batch-1", everything_known(sql), DEDUPLICATE_VIEWS)  # replay, SQL
    insert_python(sql, bodies, token="batch-1")  # replay after a restart that fell back to Python
    for table in TABLES:
        assert table_rows(sql, table) == first[table], table
    sql.command("SYSTEM START MERGES")


def test_the_statement_for_a_clickhouse_server_reads_the_body_and_parses(store_client, tmp_path):
    """A server gets the requests in the statement's body (input()); no server runs here, so parse it only."""
    decoder = SqlTraceInsert(embedded=False, scratch_dir=tmp_path)
    assert decoder.statement.endswith("\nFORMAT Protobuf")
    statement = "EXPLAIN AST " + decoder.statement.removesuffix("FORMAT Protobuf")
    ast = store_client.command(statement, parameters={"known_models": [("openai", "gpt-4o-mini")]})
    text = "\n".join(ast) if isinstance(ast, list) else str(ast)
    assert "InsertQuery" in text and "Function input" in text and "Function file" not in text


def test_records_spooled_by_an_earlier_version_are_stored_with_their_tenant(collector_factory, store_client, tmp_path):
    """Earlier versions spooled (signal, request, overrides): those still unsent at an upgrade are stored by the
    Python decoder, with the tenant's resource attributes set over the sender's."""
    import asyncio
    import marshal

    from llmsight.collector.spool import Spool

    request = ExportTraceServiceRequest.FromString(corpus(14, requests=1)[0])
    request.resource_spans[0].resource.attributes.append(
        KeyValue(key="llmsight.tenant", value=AnyValue(string_value="forged"))
    )
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, 1 << 30)
    legacy = marshal.dumps(("traces", request.SerializeToString(), {"llmsight.tenant": "acme"}))
    asyncio.run(spool.append(legacy))
    spool.close()
    collector = collector_factory(spool_dir=str(spool_dir))
    collector.wait_until_stored(timeout=60)
    spans = sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
    tenants = store_client.query(
        "SELECT ResourceAttributes['llmsight.tenant'], count() FROM otel_traces GROUP BY 1"
    ).result_rows
    assert tenants == [("acme", spans)]
    assert collector.telemetry.get("llmsight_python_decoded_spans_total") == spans


def test_small_batches_and_old_records_go_to_the_python_decoder():
    from llmsight.collector.exporters.batches import split

    records = [SpooledRecord("traces", b"a", {}, 3000), SpooledRecord("traces", b"b", {}, 1500)]
    batch, python = split(records, sql=True, sql_min_spans=4000)
    assert batch.trace_bodies == [b"a", b"b"] and batch.spans == 4500 and python == []
    batch, python = split(records, sql=True, sql_min_spans=5000)
    assert not batch and python == records
    old = [*records, SpooledRecord("traces", b"c", {"tenant": "t"}, None)]
    batch, python = split(old, sql=True, sql_min_spans=1)
    assert not batch and python == old
    logs = [SpooledRecord("logs", b"l", {}, 5), *records]
    batch, python = split(logs, sql=True, sql_min_spans=1)
    assert batch.trace_bodies == [b"a", b"b"] and python == logs[:1]


def test_a_new_model_is_priced_before_its_calls_are_stored_then_clickhouse_decodes(collector, store_client):
    import httpx2 as httpx

    def send(bodies: list[bytes]) -> None:
        for body in bodies:
            headers = {"Content-Type": "application/x-protobuf"}
            response = httpx.post(f"{collector.endpoints.http}/v1/traces", content=body, headers=headers)
            assert response.status_code == 200
        collector.wait_until_stored(timeout=60)

    first = corpus(15, requests=3)
    send(first)
    telemetry = collector.telemetry
    fallbacks = telemetry.get("llmsight_python_fallback_batches_total")
    assert fallbacks >= 1  # its models were new: the Python path priced them before storing
    assert int(store_client.command("SELECT count() FROM llm_calls WHERE Model = 'gpt-4o-mini' AND Cost = 0")) == 0

    again = []  # the same calls with new ids: no new model, so ClickHouse decodes them
    for body in first:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.span_id = bytes(reversed(span.span_id))
        again.append(request.SerializeToString())
    sql_before = telemetry.get("llmsight_sql_decoded_spans_total")
    send(again)
    assert telemetry.get("llmsight_python_fallback_batches_total") == fallbacks
    spans = sum(
        len(s.spans)
        for b in again
        for rs in ExportTraceServiceRequest.FromString(b).resource_spans
        for s in rs.scope_spans
    )
    assert telemetry.get("llmsight_sql_decoded_spans_total") - sql_before == spans


def test_a_batch_whose_file_cannot_be_written_goes_to_python_so_a_full_disk_cannot_stall_export(
    collector, store_client, tmp_path
):
    """The spool frees space only as batches are stored: the SQL decoder's file must not be a precondition."""
    import httpx2 as httpx

    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    decoder = SqlTraceInsert(embedded=True, scratch_dir=not_a_directory)
    with pytest.raises(NeedsPython):
        decoder.insert(store_client, corpus(16, requests=1), "nodisk", everything_known(store_client), {})

    collector.exporter._sql.scratch_dir = not_a_directory  # every write fails, as on a full disk
    body = corpus(16, requests=1)[0]
    headers = {"Content-Type": "application/x-protobuf"}
    assert httpx.post(f"{collector.endpoints.http}/v1/traces", content=body, headers=headers).status_code == 200
    collector.wait_until_stored(timeout=60)
    request = ExportTraceServiceRequest.FromString(body)
    spans = sum(len(s.spans) for rs in request.resource_spans for s in rs.scope_spans)
    assert int(store_client.command("SELECT count() FROM otel_traces")) == spans
    assert collector.telemetry.get("llmsight_python_decoded_spans_total") == spans


def test_a_server_that_cannot_run_the_sql_decoder_gets_python_from_then_on(collector, store_client):
    """ClickHouse before 25.7 does not know format_schema_source: the batch is stored anyway, by Python."""
    import httpx2 as httpx

    exporter = collector.exporter
    real_factory = exporter._client_factory

    class OldServer:  # a real client whose server refuses the setting, as ClickHouse 25.3 does
        def __init__(self) -> None:
            self.client = real_factory()

        def command(self, *args, **kwargs):
            raise RuntimeError("Code: 115. DB::Exception: Unknown setting 'format_schema_source'. (UNKNOWN_SETTING)")

        def __getattr__(self, name):
            return getattr(self.client, name)

    exporter._client_factory = OldServer
    exporter._client = None
    try:
        for seed in (17, 18):
            body = corpus(seed, requests=1)[0]
            headers = {"Content-Type": "application/x-protobuf"}
            assert httpx.post(f"{collector.endpoints.http}/v1/traces", content=body, headers=headers).status_code == 200
            collector.wait_until_stored(timeout=60)
    finally:
        exporter._client_factory = real_factory
        exporter._client = None
    assert exporter._sql is None  # turned off after the first refusal
    assert collector.telemetry.get("llmsight_python_fallback_batches_total") == 1
    stored = int(store_client.command("SELECT count() FROM otel_traces"))
    assert stored == collector.telemetry.get("llmsight_python_decoded_spans_total") > 0


def test_sql_decoder_min_spans_zero_turns_it_off(collector_factory):
    assert collector_factory(sql_decoder_min_spans=0).exporter._sql is None


def test_a_batch_takes_records_up_to_the_span_cap_and_at_least_one():
    import marshal

    from llmsight.collector.exporters.batches import take
    from llmsight.collector.spool import Record

    def record(i: int, count: int) -> Record:
        return Record(marshal.dumps(("traces", b"x", {}, count)), (1, i), (1, i + 1))

    records = [record(0, 3000), record(1, 3000), record(2, 3000)]
    taken = take(records, max_count=7000)
    assert taken.used == 2 and [r.count for r in taken.records] == [3000, 3000]
    assert take(records, max_count=10).used == 1  # one record over the cap still makes a batch
    assert take(records, max_count=10, whole=True).used == 3  # a replayed range is taken whole
    broken = [Record(b"not marshal", (1, 9), (1, 10)), *records]
    taken = take(broken, max_count=3000)
    assert taken.used == 2 and len(taken.unreadable) == 1
