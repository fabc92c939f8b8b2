"""The on-disk spool: acknowledged data lives here until ClickHouse has it.

Receivers append decoded rows; a writer thread writes every waiting record, fsyncs once for
all of them (group commit) and only then lets the receivers answer 200. The exporter reads
records back in order, inserts them in large batches, and moves the checkpoint past them.
So an acknowledged span survives a SIGKILL or a ClickHouse outage, and batch size is decided
by how much is waiting, not by how long senders are willing to wait for an answer.

Layout: ``DIR/NNNNNNNN.wal`` segments of length-prefixed, CRC-checked records (opaque bytes:
the pipeline stores validated OTLP protobuf, decoded only once, by the exporter) and
``DIR/checkpoint`` (see checkpoint.py). Before inserting a batch the exporter records it as
the checkpoint's ``intent``; after a crash the same range is inserted again with the same
deduplication token, so ClickHouse drops it if it already landed.

A full disk: a group whose write or fsync fails is truncated away again (truncating frees
blocks, so it works on a full disk) and all its senders get the error (503), so a segment
only ever holds acknowledged records and the size counts only them. The next group starts a
new segment, so that the old one, once ClickHouse has all of it, can be deleted: space comes
back by itself as the exporter catches up. The checkpoint is overwritten in place and needs
no free blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path

from llmsight.collector.checkpoint import Checkpoint, State, fsync_directory, write_all
from llmsight.collector.records import HEADER, Position, Record, frame, read_record, resync

log = logging.getLogger("llmsight.collector")

SEGMENT_BYTES = 64 * 1024 * 1024

__all__ = ["HEADER", "Position", "Record", "Spool", "SpoolFull"]


class SpoolFull(Exception):
    """The spool is at its size cap; senders should retry later (503)."""


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES, fsync: bool = True) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.write_errors = 0  # groups refused because the disk failed them (ENOSPC, EIO): shown in /metrics
        self.write_seconds = 0.0  # time in write + fsync: shown in /metrics
        self._failing = False  # in a write-error episode (logged once at its start and once at its end)
        self._cond = threading.Condition()
        self._pending: deque[tuple[bytes, asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._closed = False
        self._checkpoint = Checkpoint(directory, fsync)
        state = self._checkpoint.load()
        segments = self._segments()
        self.instance_id: str = state.instance if state else os.urandom(8).hex()
        self.committed: Position = state.position if state else (segments[0] if segments else 1, 0)
        self.intent: tuple[Position, Position] | None = state.intent if state else None
        # Readable bytes of each segment on disk: what readers stop at, the size gauge and deletion go by.
        self._sizes: dict[int, int] = {segment: self._path(segment).stat().st_size for segment in segments}
        # Appends always go to a fresh segment, so a torn record at the end of an old one
        # (a crash mid-write, never acknowledged) cannot be followed by good records.
        self._segment = max(segments + [self.committed[0]])
        self._fd: int | None = None  # None after a failed group that could not be truncated away
        self._offset = 0
        self._roll_next = False
        self._roll()
        self.written: Position = (self._segment, 0)
        self._uncommitted = self._count_uncommitted()
        if state is None:
            self._checkpoint.save(State(self.instance_id, self.committed, None))
        self._writer = threading.Thread(target=self._write_loop, name="llmsight-spool", daemon=True)
        self._writer.start()

    # --- appending (receivers) ---

    def size(self) -> int:
        """Bytes of spooled data not yet committed to ClickHouse (kept in memory: asked on every request)."""
        return self._uncommitted

    async def append(self, payload: bytes) -> None:
        """Write a record durably; returns once it is fsync'd. Raises SpoolFull at the cap, OSError on a disk error."""
        if self.size() >= self.max_bytes:
            raise SpoolFull("spool full")
        record = frame(payload)
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
            data = b"".join(record for record, _, _ in batch)
            started = time.perf_counter()
            error = self._write_group(data)
            self.write_seconds += time.perf_counter() - started
            with self._cond:
                if error is None:
                    self.written = (self._segment, self._offset)
                    self._sizes[self._segment] = self._offset
                    self._uncommitted += len(data)
                else:
                    self.write_errors += 1
                self._cond.notify_all()
            if (error is not None) != self._failing:
                self._failing = error is not None
                if error is not None:
                    log.error("cannot write the spool (%s): refusing data with 503 until the disk takes it", error)
                else:
                    log.warning("the spool takes writes again")
            for _, loop, future in batch:
                loop.call_soon_threadsafe(_finish, future, error)

    def _write_group(self, data: bytes) -> OSError | None:
        """Append and fsync ``data``; on failure leave the segment exactly as it was and return the error."""
        full = self._offset + len(data) > self.segment_bytes
        try:
            if self._fd is None or (self._offset and (self._roll_next or full)):
                self._roll()
        except OSError as exc:
            return exc  # nothing written; the next group tries again
        assert self._fd is not None
        start = self._offset
        try:
            write_all(self._fd, data)
            if self.fsync:
                os.fsync(self._fd)  # an error here means "not durable", even if a retry would succeed (fsyncgate)
        except OSError as exc:
            self._undo(start)
            return exc
        self._offset += len(data)
        return None

    def _undo(self, start: int) -> None:
        """Cut a failed group off the segment; if even that fails, stop appending to it (readers stop at ``start``)."""
        # The disk may be full of this segment's committed bytes: a new one lets them go.
        self._roll_next = start > 0
        try:
            os.ftruncate(self._fd, start)  # type: ignore[arg-type]
        except OSError:
            log.exception("cannot truncate a failed write off spool segment %d; starting a new segment", self._segment)
            with self._cond:
                with contextlib.suppress(OSError):
                    os.close(self._fd)  # type: ignore[arg-type]
                self._fd = None

    def _roll(self) -> None:
        """Start the next segment: at open, when one is full, or after a failed group."""
        new = self._segment + 1
        fd = os.open(self._path(new), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if self.fsync:
                fsync_directory(self.dir)  # the segment's name must be as durable as its records
        except OSError:
            os.close(fd)
            raise
        with self._cond:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
            self._fd, self._segment, self._offset, self._roll_next = fd, new, 0, False
            self._sizes[new] = 0
            self._drop_finished()

    def close(self) -> None:
        """Stop accepting appends and finish writing what was accepted."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # --- reading (exporter) ---

    def wait_for_data(self, after: Position, timeout: float) -> bool:
        with self._cond:
            if self.written > after:
                return True
            self._cond.wait(timeout)
            return self.written > after

    def read(self, start: Position, max_bytes: int, until: Position | None = None) -> list[Record]:
        """Records from ``start`` on, in order: up to ``max_bytes`` of payload, ``until``, or all that is written.

        Fewer than ``max_bytes`` means everything before the limit was read: nothing is skipped silently.
        """
        records: list[Record] = []
        size = 0
        limit = until or self.written
        segment, offset = start
        while (segment, offset) < limit:
            stop = limit[1] if segment == limit[0] else self._sizes.get(segment)
            try:
                handle = open(self._path(segment), "rb") if stop is not None else None  # noqa: SIM115
            except FileNotFoundError:
                handle = None  # deleted: ClickHouse has all of it
            if handle is not None and stop is not None:
                with handle:
                    handle.seek(offset)
                    while offset < stop:
                        record = read_record(handle, segment, offset, stop)
                        if record is None:
                            offset = resync(handle, segment, offset, stop)
                            continue
                        records.append(record)
                        size += len(record.payload)
                        offset = record.end[1]
                        if size >= max_bytes:
                            return records
            with self._cond:
                later = [s for s in self._sizes if s > segment]
            if not later or (min(later), 0) >= limit:
                break
            segment, offset = min(later), 0
        return records

    # --- checkpoint ---

    def begin(self, start: Position, end: Position) -> None:
        """Record the batch about to be inserted, so a crash replays exactly it. OSError: nothing changed."""
        self._checkpoint.save(State(self.instance_id, self.committed, (start, end)))
        self.intent = (start, end)

    def commit(self, end: Position) -> None:
        """Everything before ``end`` is in ClickHouse: move on, delete finished segments. OSError: nothing changed."""
        self._checkpoint.save(State(self.instance_id, end, None))
        with self._cond:
            self.committed = end
            self.intent = None
            self._uncommitted = self._count_uncommitted()
            self._drop_finished()

    def _count_uncommitted(self) -> int:
        segment, offset = self.committed
        return sum(size - (offset if s == segment else 0) for s, size in self._sizes.items() if s >= segment)

    def _drop_finished(self) -> None:
        """Delete segments that ClickHouse has all of, except the one appended to (called holding the lock)."""
        for segment in sorted(self._sizes):
            if segment == self._segment or (segment, self._sizes[segment]) > self.committed:
                break
            try:
                self._path(segment).unlink(missing_ok=True)
            except OSError:
                break  # tried again at the next commit
            del self._sizes[segment]

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.wal") if p.stem.isdigit())

    def _path(self, segment: int) -> Path:
        return self.dir / f"{segment:08d}.wal"


def _finish(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
