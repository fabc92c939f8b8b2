"""Flush llmsight's own pipeline when SIGTERM stops the process.

The SDK flushes at a normal exit (``atexit``). SIGTERM's default action ends the process without
that, and servers re-raise it after their own graceful shutdown (uvicorn restores the handler it
found and raises the signal again), so the last seconds of spans, the shutdown's errors among
them, were lost at every deploy. So, only for the pipeline llmsight built and only while SIGTERM
still has its default action, ``instrument()`` installs a handler that flushes for at most
``FLUSH_TIMEOUT_S`` and then lets SIGTERM do what it would have done (the exit status is the
same). A handler the app or its server installs later replaces this one, as it should;
``LLMSIGHT_FLUSH_ON_SIGTERM=false`` leaves SIGTERM alone.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

logger = logging.getLogger("llmsight.instrumentation")

FLUSH_TIMEOUT_S = 2.0


def flush_on_sigterm(provider: Any) -> bool:
    """Install the flushing handler; False where Python cannot (not the main thread) or SIGTERM is taken."""
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False
        signal.signal(signal.SIGTERM, _flushing_handler(provider))
    except (ValueError, OSError):  # an embedded interpreter without signals
        return False
    return True


def _flushing_handler(provider: Any) -> Any:
    def flush() -> None:
        try:
            provider.force_flush(int(FLUSH_TIMEOUT_S * 1000))
        except Exception:  # telemetry must not change how the app dies
            logger.debug("llmsight: flush on SIGTERM failed", exc_info=True)

    def handle(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM while flushing ends the process at once
        # On a thread, waited for at most FLUSH_TIMEOUT_S: the SDK's force_flush ignores its timeout
        # (it exports in the caller, a dead collector costs the exporter's own timeout and retries),
        # and takes a lock the interrupted main thread may hold (a flush of its own in progress).
        flusher = threading.Thread(target=flush, name="llmsight-sigterm-flush", daemon=True)
        flusher.start()
        flusher.join(FLUSH_TIMEOUT_S)
        signal.raise_signal(signum)

    return handle
