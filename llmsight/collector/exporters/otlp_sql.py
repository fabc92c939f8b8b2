"""The SQL that lets ClickHouse decode spooled OTLP trace requests itself and write otel_traces rows.

ClickHouse's ``Protobuf`` input format reads length-delimited ``ExportTraceServiceRequest``
messages with the schema in ``otlp_traces.proto`` (a subset of OTLP: the fields otel_traces
keeps). One request is one input row; ``ARRAY JOIN`` turns it into one row per span, and the
expressions below write every column exactly as ``llmsight.collector.otlp.span_rows`` does, so
both paths store the same rows (tests/collector/test_sql_ingest.py compares them).

AnyValue is recursive, ClickHouse types are not: the schema unrolls two levels of arrays and
key-value lists and reads anything deeper as raw bytes. A batch that holds such a value, or an
attribute key twice (whose Python rendering keeps the last value), is refused by ``throwIf``
before anything is written, with ``NEEDS_PYTHON`` in the message: the exporter then stores that
batch with the Python decoder instead. The expressions are generated because each level's
rendering nests the next one's.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from llmsight.collector.processors.pricing import MODEL_KEYS, PROVIDER_KEYS

NEEDS_PYTHON = "LLMSIGHT_NEEDS_PYTHON_DECODER"
NEEDS_PRICING = "LLMSIGHT_NEEDS_PRICING"
MAX_TIMESTAMP_NS = 4_102_444_800 * 10**9  # keep in step with otlp.MAX_TIMESTAMP_NS

# AnyValue's oneof, as the Protobuf format reports it in the presence column (0: none set).
STRING, BOOL, INT, DOUBLE, ARRAY, KVLIST, BYTES = range(1, 8)
CONTAINERS = f"({ARRAY}, {KVLIST})"


def _any_type(depth: int) -> str:
    """The ClickHouse type of an AnyValue ``depth`` containers deep (2: containers as raw bytes)."""
    if depth >= 2:
        inner = "array_value String, kvlist_value String"
    else:
        child = _any_type(depth + 1)
        inner = (
            f"array_value Tuple(values Array({child})), "
            f"kvlist_value Tuple(values Array(Tuple(key String, value {child})))"
        )
    return (
        f"Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64, {inner}, "
        "bytes_value String, value UInt8)"
    )


KEY_VALUES = f"Array(Tuple(key String, value {_any_type(0)}))"
STRUCTURE = (
    f"resource_spans Array(Tuple(resource Tuple(attributes {KEY_VALUES}), scope_spans Array(Tuple("
    "scope Tuple(name String, version String), spans Array(Tuple(trace_id String, span_id String, "
    "trace_state String, parent_span_id String, name String, kind Int32, start_time_unix_nano UInt64, "
    f"end_time_unix_nano UInt64, attributes {KEY_VALUES}, events Array(Tuple(time_unix_nano UInt64, name String, "
    f"attributes {KEY_VALUES})), links Array(Tuple(trace_id String, span_id String, trace_state String, "
    f"attributes {KEY_VALUES})), status Tuple(message String, code Int32)))))))"
)


def _scalar(v: str) -> list[str]:
    return [
        f"{v}.value = {BOOL}",
        f"if({v}.bool_value, 'true', 'false')",
        f"{v}.value = {INT}",
        f"toString({v}.int_value)",
        f"{v}.value = {DOUBLE}",
        f"toString({v}.double_value)",
    ]


def _json(v: str, depth: int) -> str:
    """An AnyValue nested in an array or a list as JSON (strings quoted, nothing set is null)."""
    branches = [f"{v}.value = {STRING}", f"toJSONString({v}.string_value)", *_scalar(v)]
    branches += [f"{v}.value = {BYTES}", f"toJSONString(base64Encode({v}.bytes_value))"]
    if depth < 2:
        branches += _containers(v, depth)
    return f"multiIf({', '.join(branches)}, 'null')"


def _containers(v: str, depth: int) -> list[str]:
    x, kv = f"x{depth}", f"kv{depth}"
    array = f"concat('[', arrayStringConcat(arrayMap({x} -> {_json(x, depth + 1)}, {v}.array_value.values), ','), ']')"
    kvlist = (
        f"concat('{{', arrayStringConcat(arrayMap({kv} -> concat(toJSONString({kv}.key), ':', "
        f"{_json(kv + '.value', depth + 1)}), {v}.kvlist_value.values), ','), '}}')"
    )
    return [f"{v}.value = {ARRAY}", array, f"{v}.value = {KVLIST}", kvlist]


def _text(v: str) -> str:
    """A top-level AnyValue as the Map(String, String) columns hold it: scalars as text, containers as JSON."""
    branches = [*_scalar(v), f"{v}.value = {BYTES}", f"base64Encode({v}.bytes_value)", *_containers(v, 0)]
    return f"if({v}.value = {STRING}, {v}.string_value, multiIf({', '.join(branches)}, ''))"


def attribute_map(attrs: str) -> str:
    """A KeyValue list as Map(LowCardinality(String), String)."""
    return f"mapFromArrays(arrayMap(a -> a.key, {attrs}), arrayMap(a -> {_text('a.value')}, {attrs}))"


def _children(v: str) -> str:
    """The AnyValues an array or key-value list ``v`` holds (the other kind is empty)."""
    return f"arrayConcat({v}.array_value.values, arrayMap(p -> p.value, {v}.kvlist_value.values))"


def needs_python(attrs: str) -> str:
    """True when ``attrs`` holds a value deeper than the schema reads, or a key twice."""
    deep = f"arrayExists(y -> y.value IN {CONTAINERS}, {_children('z')})"
    level1 = f"arrayExists(z -> {deep}, {_children('a.value')})"
    return (
        f"(arrayExists(a -> a.value.value IN {CONTAINERS} AND {level1}, {attrs}) "
        f"OR length(arrayDistinct(arrayMap(a -> a.key, {attrs}))) != length({attrs}))"
    )


def schema_file() -> str:
    """The ``.proto`` subset the Protobuf format reads, as a file (the installed package's)."""
    return str(resources.files(__package__).joinpath("otlp_traces.proto"))


@cache
def settings(embedded: bool) -> dict[str, object]:
    """The insert's settings. An embedded store reads the schema from the package's file; a server gets
    its text (``format_schema_source = 'string'``, ClickHouse 25.7 and later), since it has no such file.
    (The embedded engine given the text would cache it in a ``__cache__`` directory in the working directory.)"""
    source = {"format_schema_source": "file", "format_schema": schema_file()}
    if not embedded:
        source = {"format_schema_source": "string", "format_schema": Path(schema_file()).read_text()}
    return {
        **source,
        "format_schema_message_name": "ExportTraceServiceRequest",
        "input_format_protobuf_oneof_presence": 1,
        "output_format_json_escape_forward_slashes": 0,
    }


def _first(keys: tuple[str, ...]) -> str:
    """The first non-empty string value of ``keys``, in that order, among the span's attributes.

    indexOf over the span's keys (``keys`` below) costs half what a lambda per key over the attributes does."""
    return f"arrayFirst(v -> v != '', arrayMap(k -> s.attributes[indexOf(keys, k)].value.string_value, {list(keys)!r}))"


def insert_select(source: str) -> str:
    """``INSERT INTO otel_traces SELECT ... FROM {source}``; ``source`` reads the requests (file() or input()).

    A span naming a (provider, model) not in the ``known_models`` parameter (see processors/pricing.py,
    ``seen_pair``) makes ClickHouse refuse the batch with NEEDS_PRICING.
    """
    known = "{known_models:Array(Tuple(String, String))}"
    model_check = (
        f"notEmpty(arrayMap(a -> a.key, s.attributes) AS keys) AND ({_first(MODEL_KEYS)} AS model) != '' "
        f"AND NOT has({known}, ({_first(PROVIDER_KEYS)}, model))"
    )
    status = ["'Unset'", "'Ok'", "'Error'"]
    kinds = ["'Unspecified'", "'Internal'", "'Server'", "'Client'", "'Producer'", "'Consumer'"]
    return f"""INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`,
    `Links.Attributes`)
SELECT
    fromUnixTimestamp64Nano(toInt64(s.start_time_unix_nano)),
    lower(hex(s.trace_id)),
    lower(hex(s.span_id)),
    lower(hex(s.parent_span_id)),
    s.trace_state,
    s.name,
    if(s.kind BETWEEN 0 AND 5, [{", ".join(kinds)}][s.kind + 1], 'Unspecified'),
    resource['service.name'],
    {attribute_map("rs.resource.attributes")} AS resource,
    ss.scope.name,
    ss.scope.version,
    {attribute_map("s.attributes")},
    if(s.end_time_unix_nano > s.start_time_unix_nano, s.end_time_unix_nano - s.start_time_unix_nano, 0),
    if(s.status.code BETWEEN 0 AND 2, [{", ".join(status)}][s.status.code + 1], 'Unset'),
    s.status.message,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(least(e.time_unix_nano, {MAX_TIMESTAMP_NS}))), s.events),
    arrayMap(e -> e.name, s.events),
    arrayMap(e -> {attribute_map("e.attributes")}, s.events),
    arrayMap(l -> if(length(l.trace_id) = 16, lower(hex(l.trace_id)), ''), s.links),
    arrayMap(l -> if(length(l.span_id) = 8, lower(hex(l.span_id)), ''), s.links),
    arrayMap(l -> l.trace_state, s.links),
    arrayMap(l -> {attribute_map("l.attributes")}, s.links)
FROM {source}
ARRAY JOIN resource_spans AS rs
ARRAY JOIN rs.scope_spans AS ss
ARRAY JOIN ss.spans AS s
WHERE throwIf(
    {needs_python("rs.resource.attributes")} OR {needs_python("s.attributes")}
    OR arrayExists(e -> {needs_python("e.attributes")}, s.events)
    OR arrayExists(l -> {needs_python("l.attributes")}, s.links),
    '{NEEDS_PYTHON}') = 0
  AND throwIf({model_check}, '{NEEDS_PRICING}') = 0"""
