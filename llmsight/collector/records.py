"""The spool's record format: a length and a CRC32 before each payload, and how to read it back.

A record that does not check out is either the torn tail of a write that a crash cut short
(nothing valid follows it: it was never acknowledged) or damage to the disk (valid records
follow it). Reading never skips past valid records silently: after a bad one it looks for
the next valid record and says so in the log.
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

Position = tuple[int, int]  # (segment number, byte offset)

log = logging.getLogger("llmsight.collector")

HEADER = struct.Struct("<II")  # payload length, crc32


@dataclass
class Record:
    payload: bytes
    start: Position
    end: Position


def frame(payload: bytes) -> bytes:
    """A payload as it is written to a segment."""
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_record(handle: BinaryIO, segment: int, offset: int, stop: int) -> Record | None:
    """The record at ``offset`` (the handle is there), or None if it is torn or corrupt."""
    header = handle.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    length, crc = HEADER.unpack(header)
    end = offset + HEADER.size + length
    if end > stop:
        return None
    payload = handle.read(length)
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    return Record(payload, (segment, offset), (segment, end))


def resync(handle: BinaryIO, segment: int, offset: int, stop: int) -> int:
    """After a bad record at ``offset``: where the next good one starts, or ``stop`` if none follows.

    Nothing after a bad record is the torn tail of a write a crash cut short (never acknowledged).
    A good record after it means the segment was damaged: say so loudly and keep what follows.
    """
    handle.seek(offset + 1)
    data = handle.read(stop - offset - 1)
    found = find_record(data)
    if found is None:
        log.warning(
            "spool segment %d: %d bytes at offset %d are not a whole record: the tail of a write cut short by a "
            "crash (never acknowledged); ignored",
            segment,
            stop - offset,
            offset,
        )
        return stop
    resume = offset + 1 + found
    log.error(
        "spool segment %d is damaged: %d bytes at offset %d are not a valid record, but valid records follow; "
        "resuming at offset %d. Check the disk.",
        segment,
        resume - offset,
        offset,
        resume,
    )
    handle.seek(resume)
    return resume


def find_record(data: bytes) -> int | None:
    """The first offset in ``data`` where a whole, CRC-valid, non-empty record starts.

    A length that fits in ``data`` has a small top byte (0 below 16 MiB), so a regular
    expression finds the few offsets worth checking at C speed instead of a Python loop
    over every byte.
    """
    top = re.escape(bytes([min(255, len(data) >> 24)]))
    for match in re.finditer(b"(?=[\\x00-" + top + b"])", data[3 : len(data) - HEADER.size + 4]):
        at = match.start()
        length, crc = HEADER.unpack_from(data, at)
        body = at + HEADER.size
        if 0 < length <= len(data) - body and zlib.crc32(data[body : body + length]) == crc:
            return at
    return None
