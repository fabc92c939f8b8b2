"""Entry point for zero-code use: ``opentelemetry-instrument python app.py`` loads this class.

Duck-typed like ``opentelemetry.instrumentation.BaseInstrumentor`` (``instrument(**kwargs)`` /
``uninstrument(**kwargs)``) so that package is not a dependency of the light base install.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from llmsight.instrumentation import setup

_ARGUMENTS = (
    "service_name",
    "endpoint",
    "capture_content",
    "headers",
    "ingest_token",
    "tracer_provider",
    "redact",
    "max_content_length",
    "stream_usage",
    "protocol",
)


class LLMSightInstrumentor:
    """What ``opentelemetry-instrument`` calls; unknown arguments (``skip_dep_check``...) are ignored."""

    _is_instrumented_by_opentelemetry = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def instrument(self, **kwargs: Any) -> None:
        setup.instrument(**{k: v for k, v in kwargs.items() if k in _ARGUMENTS})
        LLMSightInstrumentor._is_instrumented_by_opentelemetry = True

    def uninstrument(self, **kwargs: Any) -> None:
        setup.uninstrument()
        LLMSightInstrumentor._is_instrumented_by_opentelemetry = False

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return LLMSightInstrumentor._is_instrumented_by_opentelemetry
