"""Insert spooled OTLP trace requests by letting ClickHouse decode them (see otlp_sql.py).

The exporter hands over the request bodies of a batch as they were spooled; no Python touches a
span. An embedded store reads them from a file next to the spool (``file()``), a ClickHouse
server from the statement's body (``input()``); the statement and its settings are the same.

ClickHouse refuses a batch with a marker in the message when the Python decoder must take it:
values nested deeper than the schema reads (NeedsPython), or a model whose price has not been
looked up yet (NeedsPricing: the exporter's Python path prices it before inserting, so a call's
cost is right the first time it is read). A server that does not know the settings this needs
(ClickHouse before 25.7) refuses it once; then this process uses the Python decoder only.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from llmsight.collector.checkpoint import write_all
from llmsight.collector.exporters import otlp_sql

SCRATCH_FILE = "sql-insert.pb"  # one exporter per spool directory; overwritten by each insert


class NeedsPython(Exception):
    """The SQL decoder cannot take this batch (a value it does not read, no disk for its file); Python stores it."""


class NeedsPricing(Exception):
    """This batch names a model not priced yet; the Python path prices it, then stores the batch."""


class Unsupported(Exception):
    """The ClickHouse server cannot run the SQL decoder (too old); use the Python decoder from now on."""


def length_delimited(bodies: list[bytes]) -> bytes:
    """Requests as the Protobuf format reads them: each preceded by its length as a varint."""
    out = bytearray()
    for body in bodies:
        n = len(body)
        while n > 0x7F:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
        out += body
    return bytes(out)


class SqlTraceInsert:
    """``insert(bodies, token, known_models)``: one INSERT ... SELECT for a batch of trace requests."""

    def __init__(self, embedded: bool, scratch_dir: Path) -> None:
        self.embedded = embedded
        self.scratch_dir = scratch_dir
        structure = otlp_sql.STRUCTURE.replace("'", "\\'")
        # file()'s path is a query parameter, so the statement (a few KB) is built once.
        source = f"file({{path:String}}, 'Protobuf', '{structure}')" if embedded else f"input('{structure}')"
        self.statement = otlp_sql.insert_select(source)
        if not embedded:
            self.statement += "\nFORMAT Protobuf"

    def insert(
        self, client: Any, bodies: list[bytes], token: str, known_models: frozenset[tuple[str, str]], settings: dict
    ) -> None:
        data = length_delimited(bodies)
        parameters: dict[str, Any] = {"known_models": sorted(known_models)}
        all_settings = {**otlp_sql.settings(self.embedded), **settings, "insert_deduplication_token": token}
        try:
            if self.embedded:
                path = self._write_scratch(data)
                try:
                    client.command(self.statement, parameters={**parameters, "path": str(path)}, settings=all_settings)
                finally:
                    path.unlink(missing_ok=True)
            else:
                client.command(self.statement, parameters=parameters, data=data, settings=all_settings)
        except Exception as exc:
            text = str(exc)
            if otlp_sql.NEEDS_PYTHON in text:
                raise NeedsPython() from None
            if otlp_sql.NEEDS_PRICING in text:
                raise NeedsPricing() from None
            if "format_schema_source" in text or "input_format_protobuf_oneof_presence" in text:
                raise Unsupported(text.splitlines()[0][:300]) from None
            raise

    def _write_scratch(self, data: bytes) -> Path:
        """The batch as a file next to the spool, for file(); NeedsPython when the disk will not take it.

        A full disk must not stall the exporter: the spool gives space back only as batches are
        stored, so a batch that cannot be written here goes to the Python decoder, which needs no disk.
        It holds prompts like the spool beside it (this user's only); no fsync: the spool is the durable copy.
        """
        path = self.scratch_dir / SCRATCH_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # a partial file would only take space
            raise NeedsPython() from None
        return path
