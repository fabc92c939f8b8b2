"""The SQL that lets ClickHouse decode spooled OTLP trace requests itself and write otel_traces rows.

ClickHouse's ``Protobuf`` input format reads length-delimited ``ExportTraceServiceRequest``
messages with the schema in ``otlp_traces.proto`` (a subset of OTLP: the fields otel_traces
keeps). One request is one input row; ``ARRAY JOIN`` turns it into one row per span, and the
expressions below write every column exactly as ``llmsight.collector.otlp_rows.span_rows`` does, so
both paths store the same rows (tests/collector/test_sql_decoder.py compares them).

AnyValue is recursive, ClickHouse types are not: the schema reads arrays and key-value lists of
scalars, and anything deeper as raw bytes. A batch that holds such a value, or an attribute key
twice (whose Python rendering keeps the last value), is refused by ``throwIf`` before anything is
written, with ``NEEDS_PYTHON`` in the message: the exporter then stores that batch with the
Python decoder instead.

A span's four kinds of attribute lists (its resource's, its own, its events' and its links') are
rendered by one expression over their concatenation, in a subquery, then sliced apart: ClickHouse
analyses an insert's query every time (about 0.1 ms a function) and expands an alias at each of
its uses, so four copies of the rendering cost more to analyse than thousands of spans cost to run.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from llmsight.collector.otlp import MAX_TIMESTAMP_NS
from llmsight.collector.otlp_rows import SPAN_KINDS, STATUS_CODES
from llmsight.collector.processors.pricing import MODEL_KEYS, PROVIDER_KEYS

NEEDS_PYTHON = "LLMSIGHT_NEEDS_PYTHON_DECODER"
NEEDS_PRICING = "LLMSIGHT_NEEDS_PRICING"

# AnyValue's oneof, as the Protobuf format reports it in the presence column (0: none set).
STRING, BOOL, INT, DOUBLE, ARRAY, KVLIST, BYTES = range(1, 8)
CONTAINERS = f"({ARRAY}, {KVLIST})"


def _any_type(nested: bool) -> str:
    """The ClickHouse type of an AnyValue; in an array or list, its own arrays and lists are raw bytes."""
    if nested:
        inner = "array_value String, kvlist_value String"
    else:
        child = _any_type(True)
        inner = (
            f"array_value Tuple(values Array({child})), "
            f"kvlist_value Tuple(values Array(Tuple(key String, value {child})))"
        )
    return (
        f"Tuple(string_value String, bool_value Bool, int_value Int64, double_value Float64, {inner}, "
        "bytes_value String, value UInt8)"
    )


KEY_VALUES = f"Array(Tuple(key String, value {_any_type(False)}))"
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


def _json(v: str) -> str:
    """A scalar in an array or a list as JSON (strings quoted, nothing set is null)."""
    branches = [f"{v}.value = {STRING}", f"toJSONString({v}.string_value)", *_scalar(v)]
    branches += [f"{v}.value = {BYTES}", f"toJSONString(base64Encode({v}.bytes_value))"]
    return f"multiIf({', '.join(branches)}, 'null')"


def _text(v: str) -> str:
    """An AnyValue as the Map(String, String) columns hold it: scalars as text, arrays and lists as JSON."""
    array = f"concat('[', arrayStringConcat(arrayMap(x -> {_json('x')}, {v}.array_value.values), ','), ']')"
    kvlist = (
        f"concat('{{', arrayStringConcat(arrayMap(kv -> concat(toJSONString(kv.key), ':', "
        f"{_json('kv.value')}), {v}.kvlist_value.values), ','), '}}')"
    )
    branches = [*_scalar(v), f"{v}.value = {BYTES}", f"base64Encode({v}.bytes_value)"]
    branches += [f"{v}.value = {ARRAY}", array, f"{v}.value = {KVLIST}", kvlist]
    return f"if({v}.value = {STRING}, {v}.string_value, multiIf({', '.join(branches)}, ''))"


def _deep(v: str) -> str:
    """True for an array or list holding an array or list (read as bytes, so not renderable here)."""
    children = f"arrayConcat({v}.array_value.values, arrayMap(p -> p.value, {v}.kvlist_value.values))"
    return f"({v}.value IN {CONTAINERS} AND arrayExists(y -> y.value IN {CONTAINERS}, {children}))"


def _repeats(keys: str) -> str:
    return f"length(arrayDistinct({keys})) != length({keys})"


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

    indexOf over the span's keys costs half what a lambda per key over the attributes does."""
    return (
        f"arrayFirst(v -> v != '', arrayMap(k -> s.attributes[indexOf(span_keys, k)].value.string_value, "
        f"{list(keys)!r}))"
    )


def _slice_map(start: str, length: str) -> str:
    """A Map of the attributes at ``start`` (0-based) .. + ``length`` of the span's concatenated lists."""
    return f"mapFromArrays(arraySlice(keys, {start} + 1, {length}), arraySlice(texts, {start} + 1, {length}))"


def insert_select(source: str) -> str:
    """``INSERT INTO otel_traces SELECT ... FROM {source}``; ``source`` reads the requests (file() or input()).

    A span naming a (provider, model) not in the ``known_models`` parameter (see processors/pricing.py,
    ``seen_pair``) makes ClickHouse refuse the batch with NEEDS_PRICING.
    """
    known = "{known_models:Array(Tuple(String, String))}"
    status = ", ".join(f"'{code}'" for code in STATUS_CODES)  # the Python decoder's names, in OTLP's order
    kinds = ", ".join(f"'{kind}'" for kind in SPAN_KINDS)
    return f"""INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind,
    ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage,
    `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`,
    `Links.Attributes`)
WITH
    resource_length + span_length AS events_start,
    events_start + arraySum(event_lengths) AS links_start,
    arrayMap((end, n) -> end - n, arrayCumSum(event_lengths), event_lengths) AS event_starts,
    arrayMap((end, n) -> end - n, arrayCumSum(link_lengths), link_lengths) AS link_starts,
    arraySlice(keys, resource_length + 1, span_length) AS span_keys,
    {_slice_map("0", "resource_length")} AS resource
SELECT
    fromUnixTimestamp64Nano(toInt64(s.start_time_unix_nano)),
    lower(hex(s.trace_id)),
    lower(hex(s.span_id)),
    lower(hex(s.parent_span_id)),
    s.trace_state,
    s.name,
    if(s.kind BETWEEN 0 AND {len(SPAN_KINDS) - 1}, [{kinds}][s.kind + 1], 'Unspecified'),
    resource['service.name'],
    resource,
    scope_name,
    scope_version,
    {_slice_map("resource_length", "span_length")},
    if(s.end_time_unix_nano > s.start_time_unix_nano, s.end_time_unix_nano - s.start_time_unix_nano, 0),
    if(s.status.code BETWEEN 0 AND {len(STATUS_CODES) - 1}, [{status}][s.status.code + 1], 'Unset'),
    -- The checks sit in a column, not in a WHERE: the same throwIfs there cost ~0.35 s more per insert
    -- (ClickHouse 26.9), whatever the batch's size.
    if(throwIf(
        deep OR {_repeats("arraySlice(keys, 1, resource_length)")} OR {_repeats("span_keys")}
        OR arrayExists((start, n) -> {_repeats("arraySlice(keys, events_start + start + 1, n)")},
                       event_starts, event_lengths)
        OR arrayExists((start, n) -> {_repeats("arraySlice(keys, links_start + start + 1, n)")},
                       link_starts, link_lengths),
        '{NEEDS_PYTHON}') = 0
       AND throwIf(({_first(MODEL_KEYS)} AS model) != '' AND NOT has({known}, ({_first(PROVIDER_KEYS)}, model)),
        '{NEEDS_PRICING}') = 0,
       s.status.message, ''),
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(least(e.time_unix_nano, {MAX_TIMESTAMP_NS}))), s.events),
    arrayMap(e -> e.name, s.events),
    arrayMap((start, n) -> {_slice_map("events_start + start", "n")}, event_starts, event_lengths),
    arrayMap(l -> if(length(l.trace_id) = 16, lower(hex(l.trace_id)), ''), s.links),
    arrayMap(l -> if(length(l.span_id) = 8, lower(hex(l.span_id)), ''), s.links),
    arrayMap(l -> l.trace_state, s.links),
    arrayMap((start, n) -> {_slice_map("links_start + start", "n")}, link_starts, link_lengths)
FROM (
    -- every attribute list of the span, one after the other: resource, span, events', links'
    SELECT
        s,
        ss.scope.name AS scope_name,
        ss.scope.version AS scope_version,
        length(rs.resource.attributes) AS resource_length,
        length(s.attributes) AS span_length,
        arrayMap(e -> length(e.attributes), s.events) AS event_lengths,
        arrayMap(l -> length(l.attributes), s.links) AS link_lengths,
        arrayConcat(rs.resource.attributes, s.attributes, arrayFlatten(arrayMap(e -> e.attributes, s.events)),
                    arrayFlatten(arrayMap(l -> l.attributes, s.links))) AS all_attributes,
        arrayMap(a -> a.key, all_attributes) AS keys,
        arrayMap(a -> {_text("a.value")}, all_attributes) AS texts,
        arrayExists(a -> {_deep("a.value")}, all_attributes) AS deep
    FROM {source}
    ARRAY JOIN resource_spans AS rs
    ARRAY JOIN rs.scope_spans AS ss
    ARRAY JOIN ss.spans AS s
)"""
