"""Two databases in one engine, one with the views of an older schema version and one with the current
ones, fed the same otel_traces rows: for tests that a view migration changes no value the views derive.

Every table a view writes is compared, every column of every row (sorted, since insertion order is not
kept); only experiment_evaluations' EvaluatedAt differs by design (the time of arrival).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmsight.store import schema
from llmsight.store.client import open_client
from llmsight.store.url import parse_store_url

# what the views fed by otel_traces write, and the columns that may differ between two stores
TARGETS: dict[str, str] = {
    "llm_calls": "",
    "call_screens": "",
    "otel_traces_trace_id_ts": "",
    "call_response_ids": "",
    "feedback": "",
    "experiment_runs": "",
    "experiment_rows": "",
    "experiment_evaluations": "EXCEPT (EvaluatedAt)",
}


@contextmanager
def old_and_new(chdb_path: Path, old_version: int) -> Iterator[tuple[Any, str, str]]:
    """A client and the names of a database at ``old_version`` and one at the current schema."""
    client = open_client(parse_store_url(f"chdb://{chdb_path}"), database=False)
    suffix = uuid.uuid4().hex[:8]
    names = (f"views_old_{suffix}", f"views_new_{suffix}")
    for name, upto in zip(names, (old_version, None), strict=True):
        store = parse_store_url(f"chdb://{chdb_path}?database={name}")
        schema.init_schema(client, store, 30, upto=upto)
    try:
        yield client, names[0], names[1]
    finally:
        for name in names:
            client.command(f"DROP DATABASE IF EXISTS `{name}` SYNC")
        client.close()


def copy_spans(client: Any, source: str, *targets: str) -> int:
    """Insert ``source``'s spans into each target database's otel_traces (its views run on them)."""
    for target in targets:
        client.command(f"INSERT INTO `{target}`.otel_traces SELECT * FROM `{source}`.otel_traces")
    return int(client.command(f"SELECT count() FROM `{source}`.otel_traces"))


def derived(client: Any, database: str) -> dict[str, list[tuple]]:
    """Every row every view wrote in ``database``, all columns, in a stable order."""
    rows = {}
    for table, except_ in TARGETS.items():
        query = f"SELECT * {except_} FROM `{database}`.`{table}` ORDER BY ALL"
        rows[table] = [tuple(r) for r in client.query(query).result_rows]
    return rows


def assert_same(client: Any, old: str, new: str) -> dict[str, list[tuple]]:
    """The old and the new views derived the same rows; returns them (for checks that they are not trivial)."""
    before, after = derived(client, old), derived(client, new)
    for table in TARGETS:
        assert len(before[table]) == len(after[table]), table
        for old_row, new_row in zip(before[table], after[table], strict=True):
            assert old_row == new_row, (table, old_row, new_row)
    return after
