"""Ctrl-C while work is in flight: the first waits for it, a second stops at once wherever it lands."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from llmsight.evaluator.pool import Aborted, run_bounded


def test_a_second_ctrl_c_during_the_first_ones_message_still_aborts():
    """The second press arrives while the first is being announced (as under load in a real terminal)."""
    release = threading.Event()
    announced: list[str] = []

    def work(item: int) -> int:
        signal.raise_signal(signal.SIGINT)  # the first press, once the work hangs
        release.wait(30)
        return item

    def announce() -> None:
        announced.append("first")
        signal.raise_signal(signal.SIGINT)  # the second, in the middle of saying so

    started = time.monotonic()
    try:
        with pytest.raises(Aborted):
            run_bounded([1], work, lambda item, future: "", concurrency=1, on_interrupt=announce)
    finally:
        release.set()
    assert announced == ["first"]
    assert time.monotonic() - started < 20  # did not wait for the hung call
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_a_first_ctrl_c_finishes_what_is_in_flight_and_submits_nothing_more():
    done: list[int] = []

    def work(item: int) -> int:
        if item == 0:
            signal.raise_signal(signal.SIGINT)
        return item

    def record(item: int, future) -> str:
        done.append(future.result())
        return ""

    with pytest.raises(KeyboardInterrupt) as raised:
        run_bounded(range(100), work, record, concurrency=1)
    assert not isinstance(raised.value, Aborted)
    assert done == [0]  # item 0 finished; nothing after the press was started
