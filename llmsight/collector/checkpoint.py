"""The spool's checkpoint: where ClickHouse has the data up to, and the batch being inserted.

It has to be writable on a full disk, because moving it is what lets the spool delete
finished segments and get space back. A new file plus a rename (the old checkpoint.json)
needs free blocks; this file is allocated once, at its full size, and then only
overwritten in place. It holds two slots, one per 4 KiB page, each with a sequence number
and a CRC: a save writes the slot that does not hold the last saved state and fsyncs it, so
a crash or an I/O error mid-write leaves the other slot intact, and a load takes the newest
valid slot.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from llmsight.collector.records import Position

FILE_NAME = "checkpoint"
LEGACY_NAME = "checkpoint.json"  # written by collectors before the two-slot file; read once, then removed
SLOT_BYTES = 4096
MAGIC = b"LSCP"
SLOT_HEADER = struct.Struct("<4sQII")  # magic, sequence number, body length, crc32 of the body


@dataclass(frozen=True)
class State:
    instance: str  # part of every deduplication token: a new spool directory never reuses an old token
    position: Position  # everything before it is in ClickHouse
    intent: tuple[Position, Position] | None  # the batch being inserted, replayed exactly after a crash

    def to_json(self) -> bytes:
        return json.dumps({"instance": self.instance, "position": self.position, "intent": self.intent}).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> State:
        data = json.loads(raw)
        intent = data.get("intent")
        return cls(
            str(data["instance"]),
            _position(data["position"]),
            (_position(intent[0]), _position(intent[1])) if intent else None,
        )


class Checkpoint:
    """The two-slot checkpoint file of one spool directory."""

    def __init__(self, directory: Path, fsync: bool = True) -> None:
        self.path = directory / FILE_NAME
        self._fsync = fsync
        self._lock = threading.Lock()
        self._seq = 0  # sequence number of the last state known to be saved

    def load(self) -> State | None:
        """The last saved state, or None for a new directory. Creates the file, migrates checkpoint.json."""
        legacy = self.path.with_name(LEGACY_NAME)
        state: State | None = None
        if self.path.exists():
            found = read_slots(self.path)
            if found is not None:
                self._seq, state = found
        if state is None and legacy.exists():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, IndexError):
                state = State.from_json(legacy.read_text())
        if not self.path.exists():
            self._create()
        if legacy.exists() and state is not None:
            self.save(state)  # a migrated state is in the new file before the old one goes
        for name in (LEGACY_NAME, "checkpoint.tmp"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(name).unlink()
        return state

    def save(self, state: State) -> None:
        """Make ``state`` durable. On OSError nothing is lost: the previous state's slot is untouched."""
        body = state.to_json()
        if SLOT_HEADER.size + len(body) > SLOT_BYTES:
            raise ValueError(f"checkpoint state of {len(body)} bytes does not fit a slot")
        with self._lock:
            seq = self._seq + 1
            slot = SLOT_HEADER.pack(MAGIC, seq, len(body), zlib.crc32(body)) + body
            slot += b"\0" * (SLOT_BYTES - len(slot))
            fd = os.open(self.path, os.O_WRONLY)  # opened per save: usable after the spool is closed
            try:
                written = os.pwrite(fd, slot, (seq % 2) * SLOT_BYTES)
                if written != SLOT_BYTES:  # not expected inside an allocated page, but never trust a short write
                    raise OSError(errno.EIO, f"short checkpoint write ({written} of {SLOT_BYTES} bytes)")
                if self._fsync:
                    os.fdatasync(fd)  # the file's size never changes: its data is all there is to flush
            finally:
                os.close(fd)
            self._seq = seq  # only now may the next save overwrite the other slot

    def _create(self) -> None:
        """Allocate the whole file once (real zeros, not a sparse hole), under its final name atomically."""
        tmp = self.path.with_name(FILE_NAME + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, b"\0" * (2 * SLOT_BYTES))
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        if self._fsync:
            fsync_directory(self.path.parent)


def read_slots(path: Path) -> tuple[int, State] | None:
    """The newest valid slot of a checkpoint file as (sequence number, state), or None if neither is valid."""
    raw = path.read_bytes()
    best: tuple[int, State] | None = None
    for index in range(2):
        slot = raw[index * SLOT_BYTES : (index + 1) * SLOT_BYTES]
        if len(slot) < SLOT_HEADER.size:
            continue
        magic, seq, length, crc = SLOT_HEADER.unpack_from(slot)
        body = slot[SLOT_HEADER.size : SLOT_HEADER.size + length]
        if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
            continue  # never written, or torn by a crash mid-save: the other slot holds the state
        if best is None or seq > best[0]:
            with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
                best = (seq, State.from_json(body))
    return best


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written: a nearly full disk takes part of it, then raises ENOSPC."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_directory(directory: Path) -> None:
    """Make a file's creation, rename or removal durable (its name lives in the directory)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _position(value: object) -> Position:
    segment, offset = value  # type: ignore[misc]
    return (int(segment), int(offset))
