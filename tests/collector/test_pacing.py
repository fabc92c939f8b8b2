"""The exporter's pacing: a backlog goes at once, a trickle waits so inserts stay a small share of the time."""

from __future__ import annotations

import threading
import time

from llmsight.collector.exporters.pacing import STRETCH, Pacer


def test_the_interval_is_the_timeout_stretched_by_slow_inserts_up_to_a_cap():
    pacer = Pacer(0.2)
    assert pacer.interval() == 0.2  # nothing inserted yet
    pacer.handed_over()
    pacer.done(0.01)  # a cheap insert: the timeout rules
    assert pacer.interval() == 0.2
    pacer.handed_over()
    pacer.done(0.05)  # 0.05 s of inserting, then 0.45 s of waiting: a tenth of the time
    assert abs(pacer.interval() - 0.45) < 1e-9
    pacer.handed_over()
    pacer.done(3.0)  # a slow insert: capped, data still lands within about a second
    assert pacer.interval() == STRETCH * 0.2


def test_a_backlog_or_a_stop_does_not_wait():
    pacer = Pacer(60.0)
    pacer.handed_over()
    pacer.done(10.0)  # without a backlog the next read would wait minutes
    stop = threading.Event()
    started = time.monotonic()
    pacer.wait(True, stop)
    stop.set()
    pacer.wait(False, stop)
    assert time.monotonic() - started < 5


def test_a_trickle_waits_for_the_insert_in_flight_then_the_interval():
    pacer = Pacer(0.05)
    stop = threading.Event()
    events: list[str] = []
    pacer.handed_over()  # a batch is being inserted

    def read_next() -> None:
        pacer.wait(False, stop)
        events.append(f"read {time.monotonic()}")

    reader = threading.Thread(target=read_next)
    reader.start()
    time.sleep(0.2)  # the insert takes a while; the reader must not go meanwhile
    events.append("inserted")
    done_at = time.monotonic()
    pacer.done(0.0)
    reader.join(10)
    assert events[0] == "inserted", events
    assert float(events[1].split()[1]) - done_at >= 0.045  # and then it waited the interval (timer slack aside)


def test_the_exporter_waits_after_an_insert_in_proportion_to_its_cost(collector_factory):
    """A real collector under a trickle: the next span is read only once the last insert's cost was
    matched nine times over (up to 5x the timeout), not after the bare timeout as before."""
    import httpx2 as httpx

    from tests.collector.otlp_bodies import chat_span_request

    collector = collector_factory(batch_timeout_ms=100)  # stretched up to 500 ms
    telemetry = collector.telemetry

    def one_span() -> None:
        answer = httpx.post(f"{collector.endpoints.http}/v1/traces", headers={"Content-Type": "application/x-protobuf"},
                            content=chat_span_request(1).SerializeToString())  # fmt: skip
        assert answer.status_code == 200
        collector.wait_until_stored()

    one_span()  # warm up: the first insert also prices the model
    before = telemetry.get("llmsight_insert_seconds_total")
    one_span()
    insert_seconds = telemetry.get("llmsight_insert_seconds_total") - before
    started = time.monotonic()
    one_span()
    waited = time.monotonic() - started
    expected = min(max(0.1, insert_seconds * 9), STRETCH * 0.1)
    assert waited >= 0.9 * expected, (waited, insert_seconds)
