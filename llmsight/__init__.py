"""llmsight: OpenTelemetry-native monitoring for LLM applications.

The top-level package re-exports the instrumentation API lazily, so that
``import llmsight; llmsight.instrument()`` stays light in an app and the
collector, store and evaluator subpackages (``collector`` / ``evaluator``
extras) do not import the OpenTelemetry SDK unless they need it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["context", "feedback", "instrument", "retrieval", "trace", "uninstrument"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from llmsight import instrumentation

        return getattr(instrumentation, name)
    raise AttributeError(f"module 'llmsight' has no attribute {name!r}")
