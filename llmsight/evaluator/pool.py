"""Work on many things at once (``run_bounded``), and judge many things at once (``judge_concurrently``).

``run_bounded`` keeps at most ``concurrency`` items in worker threads and hands each finished one to
the caller's thread, so results are recorded as they come and a crash loses little. A first Ctrl-C
stops submitting and waits for what is in flight (it is paid for); a second stops at once
(``Aborted``: a hung call may never return). Experiments run their target rows on it.

``judge_concurrently`` adds the judge's rules, shared by the production evaluator (``worker.run_once``)
and experiments (``experiments.judging``): an odd failure is one ``judge_error``, submitting stops after
``MAX_CONSECUTIVE_ERRORS`` of them in a row (the judge looks down) or when ``may_submit`` names a reason
(an hourly cap), and a ``JudgeFatalError`` (a rejected key) is raised once the calls in flight are recorded.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from llmsight.evaluator.judge import JudgeFatalError, JudgeResult

log = logging.getLogger("llmsight.evaluator")

# This many judge_errors in a row with no success means the endpoint is down: stop, retry next run.
MAX_CONSECUTIVE_ERRORS = 10

T = TypeVar("T")
R = TypeVar("R")


class Aborted(KeyboardInterrupt):
    """A second Ctrl-C: stop now, without waiting for calls in flight (a hung one may never return)."""


def interrupt_again(
    first: KeyboardInterrupt | None, exc: KeyboardInterrupt, announce: Callable[[], None] | None = None
) -> KeyboardInterrupt:
    """The first Ctrl-C is remembered (finish what is in flight; ``announce`` says so); a second raises Aborted."""
    if first is not None:
        raise Aborted() from exc
    if announce is not None:
        announce()
    return exc


class _Presses:
    """How many times Ctrl-C was pressed while ``run_bounded`` waits.

    Counting in a signal handler, instead of catching KeyboardInterrupt, means a second press can land
    anywhere (in the middle of printing the first one's message) and still be a second press; an
    exception raised there would escape as a plain KeyboardInterrupt and wait on a hung call forever."""

    def __init__(self) -> None:
        self.count = 0

    def press(self, signum: int, frame: object) -> None:
        self.count += 1


@contextmanager
def _counted_presses() -> Iterator[_Presses | None]:
    """Count SIGINT while inside; None where Python cannot (not the main thread) or someone else handles it."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield None
        return
    presses = _Presses()
    signal.signal(signal.SIGINT, presses.press)
    try:
        yield presses
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_bounded(
    items: Iterable[T],
    work: Callable[[T], R],
    on_done: Callable[[T, Future[R]], str],
    *,
    concurrency: int,
    may_submit: Callable[[], str] = lambda: "",
    on_interrupt: Callable[[], None] | None = None,
    thread_name: str = "llmsight-pool",
) -> str:
    """Run ``work`` on ``items``; ``on_done(item, future)`` returns a reason to stop submitting, or "".

    Returns why submitting stopped early (``on_done``'s or ``may_submit``'s reason), or "". Raises the
    first Ctrl-C once the work in flight is done, ``Aborted`` at once on a second."""
    stopped = ""
    queue = iter(items)
    interrupted: KeyboardInterrupt | None = None
    aborted = False
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=thread_name)
    try:
        pending: dict[Future[R], T] = {}

        def fill() -> None:
            nonlocal stopped
            while len(pending) < concurrency and not (stopped or interrupted):
                item = next(queue, None)
                if item is None:
                    return
                stopped = may_submit()
                if stopped:
                    return
                pending[pool.submit(work, item)] = item

        def pressed(exc: KeyboardInterrupt) -> None:  # finish what is in flight, then stop; a second does not wait
            nonlocal aborted, interrupted
            aborted = interrupted is not None
            interrupted = interrupt_again(interrupted, exc, on_interrupt)

        with _counted_presses() as presses:
            seen = 0
            fill()
            while pending:
                try:
                    # with a counter, wake up to look at it; without, Ctrl-C interrupts the wait itself
                    timeout = None if presses is None else 0.1
                    finished, _ = wait(list(pending), timeout=timeout, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt as exc:
                    pressed(exc)
                    continue
                for future in finished:
                    reason = on_done(pending.pop(future), future)
                    stopped = stopped or reason
                while presses is not None and seen < presses.count:
                    seen += 1
                    pressed(KeyboardInterrupt())
                fill()
            if presses is not None and seen < presses.count:  # pressed as the last item finished
                pressed(KeyboardInterrupt())
    finally:
        pool.shutdown(wait=not aborted, cancel_futures=True)
    if interrupted is not None:
        raise interrupted
    return stopped


def judge_concurrently(
    items: Iterable[T],
    score: Callable[[T], JudgeResult],
    on_result: Callable[[T, JudgeResult], None],
    *,
    concurrency: int,
    may_submit: Callable[[], str] = lambda: "",
    thread_name: str = "llmsight-judge",
    on_interrupt: Callable[[], None] | None = None,
) -> str:
    """Judge ``items`` (see the module docstring); returns why submitting stopped early, or "".

    Raises JudgeFatalError or KeyboardInterrupt once the calls in flight are recorded."""
    fatal: JudgeFatalError | None = None
    consecutive = 0

    def judged(item: T, future: Future[JudgeResult]) -> str:
        nonlocal fatal, consecutive
        try:
            result = future.result()
        except JudgeFatalError as exc:
            fatal = fatal or exc
            return str(exc)
        except Exception as exc:  # a bug or an odd reply must cost one item, not the run
            log.warning("judge call failed: %s", exc, exc_info=True)
            result = JudgeResult("judge_error", reason=f"{type(exc).__name__}: {exc}"[:500])
        consecutive = consecutive + 1 if result.status == "judge_error" else 0
        on_result(item, result)
        if consecutive >= MAX_CONSECUTIVE_ERRORS:
            return f"{consecutive} judge errors in a row; the judge looks unavailable"
        return ""

    stopped = run_bounded(
        items, score, judged, concurrency=concurrency, may_submit=may_submit, on_interrupt=on_interrupt,
        thread_name=thread_name,
    )  # fmt: skip
    if fatal is not None:
        raise fatal
    return stopped
