"""Bound the work one OTLP body may cause by counting its elements before it is parsed.

Bytes alone do not bound the cost: ``b"\\x0a\\x00" * (16 << 20)`` is 32 MiB of sixteen million
empty ResourceSpans, which upb takes seconds to parse (holding the GIL) into about 1 GiB of
messages, and the validation walk tens of seconds more. So a body is refused with more than
``limit`` *elements*: embedded messages of any kind (resources, scopes, spans, log records,
attributes and their values, events, links, metrics, data points).

Counting is done on the protobuf wire format and stops as soon as the limit is passed, so a
hostile body costs at most ``limit`` steps. Most bodies never need the walk: every embedded
message takes two bytes at least, so a body under twice the limit needs no count at all (with
the default limit, any body up to 2 MB: the OTel SDKs' batches); above that, every embedded
message starts with a one-byte tag (all OTLP message fields are numbered below 16), so the
number of bytes equal to one of those tags is an upper bound that ``bytes.count`` gets at C
speed. JSON bodies get the same kind of bound from their ``{`` and ``[`` before ``json.loads``.
"""

from __future__ import annotations

from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

ROOTS: dict[str, Descriptor] = {
    "traces": ExportTraceServiceRequest.DESCRIPTOR,
    "logs": ExportLogsServiceRequest.DESCRIPTOR,
    "metrics": ExportMetricsServiceRequest.DESCRIPTOR,
}
ELEMENT_NAME = {"traces": "spans", "logs": "log records", "metrics": "data points"}
MAX_DEPTH = 100  # protobuf's own recursion limit: deeper bodies fail to parse anyway


class TooManyElements(ValueError):
    """The body holds more elements than allowed; the text is returned to the sender (400)."""


class MalformedBody(ValueError):
    """The body is not valid protobuf wire format."""


@cache
def _schema(root: Descriptor) -> tuple[dict[str, dict[int, str]], frozenset[int]]:
    """Message name -> {field number: child message name} for every message field under ``root``,
    and the set of one-byte tags those fields are written with."""
    schema: dict[str, dict[int, str]] = {}
    tags: set[int] = set()
    todo = [root]
    while todo:
        message = todo.pop()
        if message.full_name in schema:
            continue
        children: dict[int, str] = {}
        for field in message.fields:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                children[field.number] = field.message_type.full_name
                todo.append(field.message_type)
                tag = field.number << 3 | 2
                if tag >= 0x80:  # pragma: no cover - would make the byte-count bound unsound
                    raise AssertionError(f"{message.full_name}.{field.name}: tag above one byte")
                tags.add(tag)
        schema[message.full_name] = children
    return schema, frozenset(tags)


def check_protobuf(body: bytes, kind: str, limit: int) -> int:
    """Raise TooManyElements when ``body`` (an OTLP export request of ``kind``) has more than ``limit``
    elements; return an upper bound of the element count otherwise (used to estimate memory)."""
    if len(body) // 2 <= limit:  # an element takes two bytes at least (tag, length): nothing to count
        return len(body) // 2
    schema, tags = _schema(ROOTS[kind])
    bound = sum(body.count(tag) for tag in tags)
    if bound <= limit:
        return bound
    return _walk(body, ROOTS[kind].full_name, schema, limit, kind)


def check_json(body: bytes, kind: str, limit: int) -> int:
    """The JSON counterpart: objects and arrays (an upper bound, braces in strings count too) against
    twice ``limit``, since OTLP/JSON writes one element as an object and often a list."""
    bound = body.count(b"{") + body.count(b"[")
    if bound > 2 * limit:
        raise TooManyElements(
            f"request has more than {2 * limit} JSON objects and arrays (limit {limit} elements); "
            f"send fewer {ELEMENT_NAME[kind]} per request"
        )
    return bound


def _walk(buf: bytes, root: str, schema: dict[str, dict[int, str]], limit: int, kind: str) -> int:
    """Count embedded messages exactly, depth first, stopping past ``limit`` elements or steps."""
    remaining = limit
    steps = 8 * limit  # scalar and unknown fields are work too, without being elements
    stack: list[tuple[str, int, int, int]] = [(root, 0, len(buf), 0)]
    try:
        while stack:
            name, pos, end, depth = stack.pop()
            fields = schema[name]
            while pos < end:
                steps -= 1
                tag, pos = _varint(buf, pos)
                wire = tag & 7
                if wire == 2:
                    size, pos = _varint(buf, pos)
                    child = fields.get(tag >> 3)
                    if child is not None:
                        remaining -= 1
                        if size and depth < MAX_DEPTH:
                            stack.append((child, pos, pos + size, depth + 1))
                    pos += size
                elif wire == 0:
                    _, pos = _varint(buf, pos)
                elif wire == 1:
                    pos += 8
                elif wire == 5:
                    pos += 4
                else:  # groups (3, 4) are not used by OTLP; 6 and 7 do not exist
                    raise MalformedBody(f"unsupported wire type {wire}")
                if remaining < 0 or steps < 0:
                    raise TooManyElements(
                        f"request has more than {limit} elements (resources, scopes, {ELEMENT_NAME[kind]}, "
                        f"attributes, ...): send fewer {ELEMENT_NAME[kind]} per request"
                    )
            if pos != end:
                raise MalformedBody("a length runs past the end of its message")
    except IndexError:
        raise MalformedBody("truncated") from None
    return limit - remaining


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise MalformedBody("varint too long")


__all__ = ["MalformedBody", "TooManyElements", "check_json", "check_protobuf"]
