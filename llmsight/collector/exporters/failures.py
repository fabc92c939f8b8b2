"""How the exporter tells ClickHouse's outages (retry for as long as it takes) from data it will never take."""

from __future__ import annotations

DEDUPLICATE_VIEWS = {"deduplicate_blocks_in_dependent_materialized_views": 1}


class RejectedBatch(Exception):
    """ClickHouse rejects this batch's data itself; retrying will not help."""


# ClickHouse error codes that mean "try again later", not "this data is wrong"; 243 is NOT_ENOUGH_SPACE.
TRANSIENT_CODES = {3, 159, 160, 164, 202, 203, 209, 210, 236, 241, 242, 243, 252, 285, 319, 425, 439, 999, 1000}


def transient(code: int, exc: Exception) -> bool:
    """A full disk on ClickHouse's side is an outage, whatever code it comes with (a write error, say)."""
    return code in TRANSIENT_CODES or "No space left on device" in str(exc) or "NOT_ENOUGH_SPACE" in str(exc)


def clickhouse_code(exc: Exception) -> int | None:
    text = str(exc)
    if "Code: " not in text:
        return None
    digits = text.split("Code: ", 1)[1].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None
