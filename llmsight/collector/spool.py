"""The on-disk spool: acknowledged data lives here until ClickHouse has it.

Receivers append decoded rows; a writer thread writes every waiting record, fsyncs once for
all of them (group commit) and only then lets the receivers answer 200. The exporter reads
records back in order, inserts them in large batches, and moves the checkpoint past them.
So an acknowledged span survives a SIGKILL or a ClickHouse outage, and batch size is decided
by how much is waiting, not by how long senders are willing to wait for an answer.

Layout: ``DIR/NNNNNNNN.wal`` segments of length-prefixed, CRC-checked records (opaque bytes:
the pipeline stores validated OTLP protobuf, decoded only once, by the exporter) and
``DIR/checkpoint.json``. Before inserting a
batch the exporter records it as the checkpoint's ``intent``; after a crash the same range is
inserted again with the same deduplication token, so ClickHouse drops it if it already landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADER = struct.Struct("<II")  # payload length, crc32
SEGMENT_BYTES = 64 * 1024 * 1024

Position = tuple[int, int]  # (segment number, byte offset)


class SpoolFull(Exception):
    """The spool is at its size cap; senders should retry later (503)."""


@dataclass
class Record:
    payload: bytes
    start: Position
    end: Position


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES, fsync: bool = True) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._cond = threading.Condition()
        self._pending: deque[tuple[bytes, asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._closed = False
        checkpoint = self._load_checkpoint()
        # Part of every deduplication token: a new spool directory never reuses an old token.
        self.instance_id: str = checkpoint.get("instance") or os.urandom(8).hex()
        self.committed: Position = tuple(checkpoint.get("position", (self._first_segment(), 0)))  # type: ignore[assignment]
        self.intent: tuple[Position, Position] | None = (
            (tuple(checkpoint["intent"][0]), tuple(checkpoint["intent"][1])) if checkpoint.get("intent") else None  # type: ignore[assignment]
        )
        # Appends always go to a fresh segment, so a torn record at the end of an old one
        # (a crash mid-write, never acknowledged) cannot be followed by good records.
        self._segment = max(self._segments() + [self.committed[0]]) + 1
        self._file = open(self._path(self._segment), "ab")  # noqa: SIM115 (held open for appends)
        self._offset = 0
        self.written: Position = (self._segment, 0)
        self._uncommitted = self._measure()
        self._save_checkpoint()
        self._writer = threading.Thread(target=self._write_loop, name="llmsight-spool", daemon=True)
        self._writer.start()

    # --- appending (receivers) ---

    def size(self) -> int:
        """Bytes of spooled data not yet committed to ClickHouse (kept in memory: asked on every request)."""
        return self._uncommitted

    def _measure(self) -> int:
        """Recount uncommitted bytes from the files: at start and on each commit, not per request."""
        total = 0
        for segment in self._segments():
            if segment >= self.committed[0]:
                with contextlib.suppress(OSError):
                    total += self._path(segment).stat().st_size
        return max(0, total - self.committed[1])

    async def append(self, payload: bytes) -> None:
        """Write a record durably; returns once it is fsync'd. Raises SpoolFull at the cap."""
        if self.size() >= self.max_bytes:
            raise SpoolFull("spool full")
        record = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closed:
                raise SpoolFull("collector is shutting down")
            self._pending.append((record, loop, future))
            self._cond.notify_all()
        await future

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending and self._closed:
                    return
                batch = list(self._pending)
                self._pending.clear()
            error: BaseException | None = None
            try:
                for record, _, _ in batch:
                    if self._offset and self._offset + len(record) > self.segment_bytes:
                        self._roll()
                    self._file.write(record)
                    self._offset += len(record)
                self._file.flush()
                if self.fsync:
                    os.fsync(self._file.fileno())
            except OSError as exc:
                error = exc
            with self._cond:
                self.written = (self._segment, self._offset)
                self._uncommitted += sum(len(record) for record, _, _ in batch)
                self._cond.notify_all()
            for _, loop, future in batch:
                loop.call_soon_threadsafe(_finish, future, error)

    def _roll(self) -> None:
        self._file.close()
        self._segment += 1
        self._offset = 0
        self._file = open(self._path(self._segment), "ab")  # noqa: SIM115

    def close(self) -> None:
        """Stop accepting appends and finish writing what was accepted."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join()
        self._file.close()

    # --- reading (exporter) ---

    def wait_for_data(self, after: Position, timeout: float) -> bool:
        with self._cond:
            if self.written > after:
                return True
            self._cond.wait(timeout)
            return self.written > after

    def read(self, start: Position, max_bytes: int, until: Position | None = None) -> list[Record]:
        """Records from ``start`` on, in order: up to ``max_bytes`` of payload, ``until``, or all that is written."""
        records: list[Record] = []
        size = 0
        limit = until or self.written
        segment, offset = start
        while (segment, offset) < limit:
            try:
                handle = open(self._path(segment), "rb")  # noqa: SIM115
            except OSError:
                handle = None
            if handle is not None:
                with handle:
                    handle.seek(offset)
                    while (segment, offset) < limit:
                        header = handle.read(HEADER.size)
                        if len(header) < HEADER.size:
                            break
                        length, crc = HEADER.unpack(header)
                        payload = handle.read(length)
                        if len(payload) < length or zlib.crc32(payload) != crc:
                            break  # torn tail of a segment written before a crash: never acknowledged
                        end = (segment, offset + HEADER.size + length)
                        records.append(Record(payload, (segment, offset), end))
                        size += length
                        segment, offset = end
                        if size >= max_bytes:
                            return records
            later = [s for s in self._segments() if s > segment]
            if not later or (later[0], 0) >= limit:
                break
            segment, offset = later[0], 0
        return records

    # --- checkpoint ---

    def begin(self, start: Position, end: Position) -> None:
        """Record the batch about to be inserted, so a crash replays exactly it."""
        self.intent = (start, end)
        self._save_checkpoint()

    def commit(self, end: Position) -> None:
        """Everything before ``end`` is in ClickHouse: move on and delete finished segments."""
        with self._cond:  # the writer adds to the count under the same lock (a brief overcount is harmless)
            self.committed = end
            self._uncommitted = self._measure()
        self.intent = None
        self._save_checkpoint()
        for segment in self._segments():
            if segment < end[0] and segment != self._segment:
                with contextlib.suppress(OSError):
                    self._path(segment).unlink()

    def _save_checkpoint(self) -> None:
        path = self.dir / "checkpoint.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"instance": self.instance_id, "position": self.committed, "intent": self.intent}))
        if self.fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)

    def _load_checkpoint(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "checkpoint.json").read_text())
        except (OSError, ValueError):
            return {}

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.wal") if p.stem.isdigit())

    def _first_segment(self) -> int:
        segments = self._segments()
        return segments[0] if segments else 1

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:08d}.wal"


def _read_from(path: Path, offset: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read()


def _finish(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
