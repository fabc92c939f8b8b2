"""Judge many things at once: bounded concurrency, a circuit breaker, and the judge's fatal errors.

Shared by the production evaluator (``worker.run_once``) and experiments (``experiments.judging``):
``score`` runs in worker threads, ``on_result`` in the caller's thread as each judgement arrives (so
results are recorded as they come and a crash loses little). Submitting stops when ``may_submit``
names a reason (an hourly cap), after ``MAX_CONSECUTIVE_ERRORS`` judge errors in a row (the judge
looks down), on a ``JudgeFatalError`` or on Ctrl-C; calls already in flight are waited for and
recorded (they are paid for), then a fatal error or the interrupt is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from llmsight.evaluator.judge import JudgeFatalError, JudgeResult

log = logging.getLogger("llmsight.evaluator")

# This many judge_errors in a row with no success means the endpoint is down: stop, retry next run.
MAX_CONSECUTIVE_ERRORS = 10

T = TypeVar("T")


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
    stopped = ""
    queue = iter(items)
    fatal: JudgeFatalError | None = None
    interrupted: KeyboardInterrupt | None = None
    consecutive = 0
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=thread_name)
    aborted = False
    try:
        pending: dict[Future[JudgeResult], T] = {}

        def fill() -> None:
            nonlocal stopped
            while len(pending) < concurrency and not (stopped or fatal or interrupted):
                item = next(queue, None)
                if item is None:
                    return
                stopped = may_submit()
                if stopped:
                    return
                pending[pool.submit(score, item)] = item

        fill()
        while pending:
            try:
                finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            except KeyboardInterrupt as exc:  # finish what is in flight (it is paid for), then stop
                aborted = interrupted is not None
                interrupted = interrupt_again(interrupted, exc, on_interrupt)
                continue
            for future in finished:
                item = pending.pop(future)
                try:
                    result = future.result()
                except JudgeFatalError as exc:
                    fatal = fatal or exc
                    continue
                except Exception as exc:  # a bug or an odd reply must cost one item, not the run
                    log.warning("judge call failed: %s", exc, exc_info=True)
                    result = JudgeResult("judge_error", reason=f"{type(exc).__name__}: {exc}"[:500])
                consecutive = consecutive + 1 if result.status == "judge_error" else 0
                if consecutive >= MAX_CONSECUTIVE_ERRORS and not stopped:
                    stopped = f"{consecutive} judge errors in a row; the judge looks unavailable"
                on_result(item, result)
            fill()
    finally:
        pool.shutdown(wait=not aborted, cancel_futures=True)
    if fatal is not None:
        raise fatal
    if interrupted is not None:
        raise interrupted
    return stopped
