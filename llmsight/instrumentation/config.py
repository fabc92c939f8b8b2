"""The process-wide instrumentation settings, read by the wrappers on every call without locking."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

DEFAULT_MAX_CONTENT_LENGTH = 64 * 1024

_OFF_VALUES = frozenset({"no_content", "false", "0", "no", "off", "none"})


def content_capture_from_env(default: bool) -> bool:
    """The GenAI convention's switch wins over the argument only to turn capture off (privacy first)."""
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    if value is None or not value.strip():
        return default
    if value.strip().lower() in _OFF_VALUES:
        return False
    return default


def stream_usage_from_env() -> bool | None:
    """``LLMSIGHT_STREAM_USAGE`` = true / false / auto (auto: only on OpenAI's and Azure's own hosts)."""
    value = os.environ.get("LLMSIGHT_STREAM_USAGE", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def fast_spans_from_env() -> bool:
    """``LLMSIGHT_FAST_SPANS=false`` forces the SDK's own span objects, built while the call runs
    (for debugging a pipeline, and to compare the paths)."""
    return os.environ.get("LLMSIGHT_FAST_SPANS", "").strip().lower() not in ("0", "false", "no", "off")


def flush_on_sigterm_from_env() -> bool:
    """``LLMSIGHT_FLUSH_ON_SIGTERM=false`` leaves SIGTERM alone (see shutdown.py)."""
    return os.environ.get("LLMSIGHT_FLUSH_ON_SIGTERM", "").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class Settings:
    """What the wrappers need on the hot path, precomputed at ``instrument()`` time."""

    tracer: Tracer
    capture_content: bool = True
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    redact: Callable[[str], str] | None = None
    # None = automatic (inject include_usage only for api.openai.com and Azure OpenAI hosts).
    stream_usage: bool | None = None
    # Lighter spans for the plain SDK pipeline (fast_spans.py); None = always tracer.start_span.
    fast_spans: Any = None
    # Spans built on the export thread, for the pipeline llmsight built (deferred_spans.py); None = never.
    deferred_spans: Any = None


# Replaced as a whole by instrument(); wrappers read it once per call.
SETTINGS: Settings | None = None
