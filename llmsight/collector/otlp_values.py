"""How OTLP AnyValues are rendered as strings for the Map(String, String) columns: scalars as text, arrays
and maps as JSON, exactly as ClickHouse's toString/toJSONString write them, so that the Python and SQL
decoders store the same rows.
"""

from __future__ import annotations

import base64
import math
from typing import Any


def any_value_to_str(value: Any) -> str:
    """An AnyValue as the Map(String, String) columns hold it: scalars as text, arrays and maps as JSON.

    Written exactly as ClickHouse writes them (toString, toJSONString), because the exporter's
    SQL decoder (exporters/otlp_sql.py) renders the same values in SQL and both must store the same rows.
    """
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return format_double(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind is None:
        return ""
    return _json(value)


def _json(value: Any) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return json_string(value.string_value)
    if kind == "array_value":
        return "[" + ",".join(_json(v) for v in value.array_value.values) + "]"
    if kind == "kvlist_value":
        return "{" + ",".join(f"{json_string(kv.key)}:{_json(kv.value)}" for kv in value.kvlist_value.values) + "}"
    if kind == "bytes_value":
        return json_string(base64.b64encode(value.bytes_value).decode())
    if kind is None:
        return "null"
    return any_value_to_str(value)


_JSON_ESCAPES = {code: f"\\u{code:04X}" for code in (*range(0x20), 0x2028, 0x2029)}
_JSON_ESCAPES.update({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r", 34: '\\"', 92: "\\\\"})


def json_string(text: str) -> str:
    """A JSON string as ClickHouse's toJSONString writes it (\\u001F, not \\u001f; U+2028 escaped; / kept)."""
    return '"' + text.translate(_JSON_ESCAPES) + '"'


def format_double(value: float) -> str:
    """A double as ClickHouse's toString writes it: the shortest digits that read back the same, plain
    between 1e-7 and 1e21 (1.0 -> 1, 1e16 -> 10000000000000000, 1.5e-05 -> 0.000015), else 1e21, 1.5e-7."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = repr(value)
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exp = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exp) if exp else 0)  # value = 0.DIGITS * 10**point
    significant = digits.lstrip("0")
    point -= len(digits) - len(significant)
    digits = significant.rstrip("0")
    if not digits:
        return sign + "0"
    if -7 < point - 1 < 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    rest = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{rest}e{point - 1}"


def attributes(kvs: Any) -> dict[str, str]:
    """KeyValue list -> the Map(String, String) the tables hold."""
    out: dict[str, str] = {}
    for kv in kvs:
        value = kv.value
        if value.WhichOneof("value") == "string_value":
            out[kv.key] = value.string_value
        else:
            out[kv.key] = any_value_to_str(value)
    return out
