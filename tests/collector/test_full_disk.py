"""A full spool disk: refuse what cannot be made durable, lose nothing acknowledged, recover by itself.

Runs on a real small filesystem (a tmpfs mounted for the test; skipped without root): the
spool alone, then a real ``llmsight serve`` whose spool directory is on that filesystem.
"""

from __future__ import annotations

import asyncio
import errno
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx

from llmsight.collector.records import HEADER
from llmsight.collector.spool import Position, Spool
from tests.collector.otlp_bodies import chat_span_request
from tests.collector.small_disk import MiB, fill, small_disk
from tests.collector.test_durability import PROTO, metric, query, start_serve, wait_spool_empty
from tests.conftest import free_port

NO_CAP = 1 << 40  # the spool's own size cap is not what stops these appends: the disk is
DISK_MIB = 24
SERVICE = "full-disk"
SPANS = 50  # per request


def append_group(spool: Spool, payloads: list[bytes]) -> list[BaseException | None]:
    """Append concurrently, so the writer commits several records in one group; each one's outcome."""

    async def go() -> list[BaseException | None]:
        outcomes = await asyncio.gather(*(spool.append(p) for p in payloads), return_exceptions=True)
        return [outcome if isinstance(outcome, BaseException) else None for outcome in outcomes]

    return asyncio.run(go())


def read_all(spool: Spool) -> list[bytes]:
    return [record.payload for record in spool.read(spool.committed, 1 << 40)]


def on_disk_uncommitted(directory: Path, committed: Position) -> int:
    """What the spool's files hold past the checkpoint, measured on the filesystem."""
    total = 0
    for path in directory.glob("*.wal"):
        if int(path.stem) >= committed[0]:
            total += path.stat().st_size - (committed[1] if int(path.stem) == committed[0] else 0)
    return total


def append_until_refused(spool: Spool, rng: random.Random, refusals: int) -> tuple[list[bytes], list[bytes]]:
    """Append groups of 8 records of 1-60 KB until ``refusals`` were refused: (acknowledged, refused) in order."""
    acked: list[bytes] = []
    refused: list[bytes] = []
    number = 0
    while len(refused) < refusals:
        payloads = [f"{number + i:06d}".encode() + rng.randbytes(rng.randint(1000, 60_000)) for i in range(8)]
        number += len(payloads)
        for payload, outcome in zip(payloads, append_group(spool, payloads), strict=True):
            if outcome is None:
                acked.append(payload)
            else:
                assert isinstance(outcome, OSError) and outcome.errno == errno.ENOSPC, outcome
                refused.append(payload)
        assert number < 5_000, "the disk never filled up"
    return acked, refused


def test_a_full_disk_refuses_appends_keeps_every_acknowledged_record_and_recovers(tmp_path):
    rng = random.Random(4)
    with small_disk(tmp_path / "disk") as disk:
        directory = disk / "spool"
        spool = Spool(directory, max_bytes=NO_CAP)
        filler = fill(disk, leave=2 * MiB)
        acked, refused = append_until_refused(spool, rng, refusals=40)
        assert acked and refused
        assert read_all(spool) == acked  # every acknowledged record, intact and in order
        # nothing refused or torn is left in the files, and the size counts exactly what they hold
        assert spool.size() == on_disk_uncommitted(directory, spool.committed)
        assert spool.size() == sum(HEADER.size + len(payload) for payload in acked)

        records = spool.read(spool.committed, 1 << 40)
        middle = len(records) // 2
        spool.begin(records[0].start, records[middle].end)  # the checkpoint moves on the full disk
        spool.commit(records[middle].end)
        kept = acked[middle + 1 :]
        assert read_all(spool) == kept

        filler.unlink()  # space comes back: appends succeed again, without a restart
        later = [f"later-{i}".encode() * 500 for i in range(20)]
        assert append_group(spool, later) == [None] * len(later)
        assert read_all(spool) == kept + later
        spool.close()

        reopened = Spool(directory, max_bytes=NO_CAP)  # a restart finds each acknowledged record, once
        assert read_all(reopened) == kept + later
        assert reopened.size() == on_disk_uncommitted(directory, reopened.committed)
        reopened.close()


def test_a_disk_the_spool_filled_by_itself_gets_its_space_back_once_the_data_is_committed(tmp_path):
    rng = random.Random(5)
    with small_disk(tmp_path / "disk", size_mib=8) as disk:
        directory = disk / "spool"
        spool = Spool(directory, max_bytes=NO_CAP)  # its 64 MiB segment outgrows the disk
        acked, _ = append_until_refused(spool, rng, refusals=8)
        assert read_all(spool) == acked
        spool.commit(spool.written)  # ClickHouse has all of it
        assert spool.size() == 0
        # Nobody deletes anything: the finished segment goes as soon as appends move to a new one.
        more = [f"more-{i}".encode() * 1000 for i in range(100)]  # 600 KB
        assert append_group(spool, more[:50]) + append_group(spool, more[50:]) == [None] * len(more)
        assert read_all(spool) == more
        # The segment appended to may still begin with committed bytes (how the groups fell decides
        # whether the last one before the commit started a new segment); every older one is gone.
        assert [int(p.stem) for p in directory.glob("*.wal")] == [spool.written[0]]
        on_disk = on_disk_uncommitted(directory, spool.committed)
        assert spool.size() == on_disk == sum(HEADER.size + len(payload) for payload in more)
        spool.close()


class Senders:
    """Three threads posting 50-span bodies with numbered span ids; what was sent, acknowledged, refused."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/traces"
        self.lock = threading.Lock()
        self.requests = 0
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.statuses: Counter[int] = Counter()
        self.streak = 0  # answers of 200 in a row

    def run(self, until: Callable[[], bool], timeout: float, what: str, then: Callable[[], None] | None = None) -> None:
        """Send until ``until()``; then call ``then`` while requests are still in flight, and stop."""
        stop = threading.Event()
        threads = [threading.Thread(target=self._post, args=(stop,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        try:
            while not until():
                assert all(thread.is_alive() for thread in threads), f"serve went away while {what}"
                assert time.monotonic() < deadline, f"timed out {what}: {self.statuses}"
                time.sleep(0.05)
            if then is not None:
                then()
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def _post(self, stop: threading.Event) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                with self.lock:
                    number = self.requests
                    self.requests += 1
                request = chat_span_request(SPANS, service=SERVICE)
                spans = request.resource_spans[0].scope_spans[0].spans
                for i, span in enumerate(spans):
                    span.trace_id = (number + 1).to_bytes(16, "big")
                    span.span_id = (number * SPANS + i + 1).to_bytes(8, "big")
                ids = {span.span_id.hex() for span in spans}
                with self.lock:
                    self.sent |= ids
                try:
                    status = client.post(self.url, content=request.SerializeToString(), headers=PROTO).status_code
                except httpx.TransportError:
                    status = 0  # serve was killed: neither acknowledged nor refused
                with self.lock:
                    self.statuses[status] += 1
                    self.streak = self.streak + 1 if status == 200 else 0
                    if status == 200:
                        self.acked |= ids
                if status == 0:
                    return


def stored_span_ids(ports: dict[str, int]) -> list[str]:
    text = query(ports, f"SELECT SpanId FROM otel_traces WHERE ServiceName = '{SERVICE}' FORMAT TSV")
    return text.split()


def drain_output(proc: subprocess.Popen) -> list[str]:
    """Read serve's log as it comes (a full pipe would block it); the lines, for the assertions."""
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_serve_refuses_what_a_full_spool_disk_cannot_keep_and_recovers_by_itself(tmp_path):
    with small_disk(tmp_path / "disk", size_mib=DISK_MIB) as disk:
        ports = {"http": free_port(), "grpc": free_port(), "query": free_port()}
        env = {"LLMSIGHT_SPOOL_DIR": str(disk / "spool")}  # the store itself is on the normal disk
        proc = start_serve(tmp_path, ports, env)
        log = drain_output(proc)
        try:
            senders = Senders(ports["http"])
            filler = fill(disk, leave=4 * MiB)
            senders.run(lambda: senders.statuses[503] >= 30, 120, "waiting for the full disk to refuse requests")
            assert metric(ports, "llmsight_spool_bytes") <= DISK_MIB * MiB  # it counts what is on the disk
            refused_while_full = senders.statuses[503]

            filler.unlink()  # space comes back: no restart, serve takes data again
            senders.run(lambda: senders.streak >= 100, 120, "waiting for 100 answers of 200 in a row")
            wait_spool_empty(ports)
            stored = stored_span_ids(ports)
            assert senders.acked <= set(stored) <= senders.sent  # the exporter lived on and stored it all
            assert metric(ports, "llmsight_spool_write_errors_total") > 0
            assert metric(ports, "llmsight_dead_letter_total") == 0

            acked_before = len(senders.acked)
            senders.run(
                lambda: len(senders.acked) >= acked_before + 40 * SPANS,
                120,
                "sending before the kill",
                then=lambda: proc.send_signal(signal.SIGKILL),  # with requests in flight
            )
            proc.wait()
        finally:
            proc.kill()
            proc.wait()

        proc = start_serve(tmp_path, ports, env)  # replays the spool
        drain_output(proc)
        try:
            wait_spool_empty(ports)
            stored = stored_span_ids(ports)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        lost = senders.acked - set(stored)
        statuses = senders.statuses
        print(
            f"\nrequests sent {senders.requests}, acknowledged {statuses[200]}, refused (503) {statuses[503]} "
            f"({refused_while_full} while the disk was full), cut off by the kill {statuses[0]}; "
            f"spans sent {len(senders.sent)}, acknowledged {len(senders.acked)}, stored {len(stored)}, lost {len(lost)}"
        )
        assert not lost
        assert len(stored) == len(set(stored))  # none twice
        assert set(stored) <= senders.sent
        assert set(statuses) <= {0, 200, 503}, statuses
        assert not [line for line in log if "Traceback" in line], "".join(log)


def test_a_full_clickhouse_disk_is_an_outage_not_bad_data(tmp_path):
    """chDB answers NOT_ENOUGH_SPACE (243): retried for as long as it takes, never set aside as dead letters."""
    with small_disk(tmp_path / "disk", size_mib=128) as disk:
        ports = {"http": free_port(), "grpc": free_port(), "query": free_port()}
        proc = start_serve(disk, ports, {"LLMSIGHT_SPOOL_DIR": str(tmp_path / "spool")})  # the store is on the tmpfs
        drain_output(proc)
        try:
            filler = fill(disk, leave=64 * 1024)
            for _ in range(20):
                body = chat_span_request(SPANS, service=SERVICE).SerializeToString()
                assert httpx.post(f"http://127.0.0.1:{ports['http']}/v1/traces", content=body, headers=PROTO).is_success
            deadline = time.monotonic() + 60
            while metric(ports, "llmsight_insert_errors_total") < 7:  # a data error is set aside after 5 tries
                assert time.monotonic() < deadline, "inserts never failed: is the store's disk full?"
                time.sleep(0.2)
            assert metric(ports, "llmsight_dead_letter_total") == 0
            assert metric(ports, "llmsight_spool_bytes") > 0  # still waiting in the spool
            filler.unlink()
            wait_spool_empty(ports)
            assert int(query(ports, f"SELECT count() FROM otel_traces WHERE ServiceName = '{SERVICE}'")) == 20 * SPANS
        finally:
            proc.kill()
            proc.wait()
