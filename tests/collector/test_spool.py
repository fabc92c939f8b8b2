"""The spool on its own: ordering across segments, torn tails, damage, checkpoints and intents."""

from __future__ import annotations

import asyncio
import json

import pytest

from llmsight.collector.checkpoint import SLOT_BYTES, Checkpoint, State, read_slots
from llmsight.collector.spool import Spool, SpoolFull


def append_all(spool: Spool, payloads: list[bytes]) -> None:
    async def go() -> None:
        await asyncio.gather(*(spool.append(p) for p in payloads))

    asyncio.run(go())


def read_all(spool: Spool, start=None) -> list[bytes]:
    return [r.payload for r in spool.read(start or spool.committed, 1 << 40)]


def test_records_come_back_in_order_across_segments_and_finished_segments_are_deleted(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 30, segment_bytes=1000)
    payloads = [f"record-{i:03d}".encode() * 10 for i in range(40)]  # 100 bytes each: ~4 segments
    for p in payloads:  # one at a time, so the order is the append order
        append_all(spool, [p])
    assert len(list(tmp_path.glob("*.wal"))) >= 4
    assert read_all(spool) == payloads
    # a batch read stops at max_bytes, and continues where it stopped
    first = spool.read(spool.committed, 250)
    assert [r.payload for r in first] == payloads[:3]
    assert [r.payload for r in spool.read(first[-1].end, 1 << 40)] == payloads[3:]
    spool.commit(first[-1].end)
    middle = spool.read(spool.committed, 2000)
    spool.commit(middle[-1].end)
    assert read_all(spool) == payloads[3 + len(middle) :]
    segments = sorted(int(p.stem) for p in tmp_path.glob("*.wal"))
    assert segments[0] == spool.committed[0]  # segments before the checkpoint are gone
    spool.close()


def test_restart_resumes_from_the_checkpoint_and_skips_a_torn_tail(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 30)
    append_all(spool, [b"a" * 50])
    append_all(spool, [b"b" * 50])
    first = spool.read(spool.committed, 1)
    spool.commit(first[0].end)
    append_all(spool, [b"c" * 50])
    spool.close()
    last = max(tmp_path.glob("*.wal"))
    with open(last, "ab") as handle:  # a crash mid-write: header and half a payload, never acknowledged
        handle.write(b"\x64\x00\x00\x00\x00\x00\x00\x00half")

    reopened = Spool(tmp_path, max_bytes=1 << 30)
    assert read_all(reopened) == [b"b" * 50, b"c" * 50]
    append_all(reopened, [b"d" * 50])  # new appends go to a new segment, after the torn tail
    assert read_all(reopened) == [b"b" * 50, b"c" * 50, b"d" * 50]
    reopened.close()


def test_an_intent_survives_a_crash_with_its_exact_range(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 30)
    append_all(spool, [b"x" * 10])
    append_all(spool, [b"y" * 10])
    append_all(spool, [b"z" * 10])
    batch = spool.read(spool.committed, 15)  # the first two records
    spool.begin(batch[0].start, batch[-1].end)
    # crash before commit: nothing is closed or committed
    reopened = Spool(tmp_path, max_bytes=1 << 30)
    start, end = reopened.intent
    assert [r.payload for r in reopened.read(start, 1 << 40, until=end)] == [b"x" * 10, b"y" * 10]
    assert reopened.instance_id == spool.instance_id  # so the replay's deduplication token is the same
    assert read_slots(tmp_path / "checkpoint")[1].intent == (batch[0].start, batch[-1].end)
    reopened.close()
    spool.close()


def test_a_full_spool_refuses_appends(tmp_path):
    spool = Spool(tmp_path, max_bytes=300)
    append_all(spool, [b"p" * 400])
    assert spool.size() == 408  # payload and its 8-byte header
    spool.close()
    spool = Spool(tmp_path, max_bytes=300)  # a restart counts what is still uncommitted on disk
    assert spool.size() == 408
    with pytest.raises(SpoolFull):
        append_all(spool, [b"q"])
    spool.commit(spool.written)
    assert spool.size() == 0
    append_all(spool, [b"q"])  # room again once ClickHouse has the data
    spool.close()


def test_a_damaged_record_followed_by_good_ones_costs_only_itself(tmp_path, caplog):
    spool = Spool(tmp_path, max_bytes=1 << 30)
    for payload in (b"a" * 50, b"b" * 50, b"c" * 50, b"d" * 50):
        append_all(spool, [payload])
    spool.close()
    (segment,) = tmp_path.glob("*.wal")
    data = bytearray(segment.read_bytes())
    data[58 + 20] ^= 0xFF  # a flipped bit inside the second record's payload (records are 58 bytes)
    segment.write_bytes(bytes(data))

    reopened = Spool(tmp_path, max_bytes=1 << 30)
    assert read_all(reopened) == [b"a" * 50, b"c" * 50, b"d" * 50]  # the reader resynchronises after it
    assert "is damaged" in caplog.text
    reopened.close()


def test_an_old_checkpoint_json_is_migrated_once(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 30)
    append_all(spool, [b"x" * 10])
    append_all(spool, [b"y" * 10])
    first = spool.read(spool.committed, 1)[0]
    spool.close()
    (tmp_path / "checkpoint").unlink()  # as a collector before the two-slot file left it
    legacy = {"instance": "0123456789abcdef", "position": list(first.end), "intent": None}
    (tmp_path / "checkpoint.json").write_text(json.dumps(legacy))

    reopened = Spool(tmp_path, max_bytes=1 << 30)
    assert (reopened.instance_id, reopened.committed) == ("0123456789abcdef", first.end)
    assert read_all(reopened) == [b"y" * 10]
    assert not (tmp_path / "checkpoint.json").exists()
    assert read_slots(tmp_path / "checkpoint")[1].instance == "0123456789abcdef"
    reopened.close()


def test_a_checkpoint_torn_mid_save_falls_back_to_the_previous_one(tmp_path):
    checkpoint = Checkpoint(tmp_path)
    assert checkpoint.load() is None
    saved = [State("i", (1, n), None) for n in range(3)]
    for state in saved:
        checkpoint.save(state)
    assert Checkpoint(tmp_path).load() == saved[-1]
    data = bytearray((tmp_path / "checkpoint").read_bytes())
    newest = 3 % 2  # the slot the third save wrote
    data[newest * SLOT_BYTES + 30] ^= 0xFF  # a crash mid-write
    (tmp_path / "checkpoint").write_bytes(bytes(data))
    assert Checkpoint(tmp_path).load() == saved[-2]
