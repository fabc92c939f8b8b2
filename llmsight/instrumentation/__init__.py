"""Turns every OpenAI client call in an app into an OpenTelemetry GenAI span, from one ``instrument()``."""

from llmsight.instrumentation.context import bind_context, context, retrieval, trace
from llmsight.instrumentation.feedback import feedback
from llmsight.instrumentation.setup import instrument, uninstrument

__all__ = ["bind_context", "context", "feedback", "instrument", "retrieval", "trace", "uninstrument"]
