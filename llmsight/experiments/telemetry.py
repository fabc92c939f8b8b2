"""An experiment's OpenTelemetry data: the run span, one span per dataset row, one span per score.

The row span is the root of the row's trace: the target runs inside it, so the LLM calls and
retrievals the app makes (instrumented by ``llmsight.instrument``) are its children. A score is a
zero-length ``llmsight.evaluation`` child of the row span with the GenAI conventions'
``gen_ai.evaluation.*`` attributes (and a ``gen_ai.evaluation.result`` event), which the store's
``experiment_evaluations_mv`` files (never into production's ``evaluations``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from llmsight.collector.auth import EXPERIMENTS_ATTRIBUTE
from llmsight.evaluator.inputs import MAX_CONTEXT_CHARS, MAX_FIELD_CHARS
from llmsight.instrumentation.exporting import DropCountingExporter
from llmsight.queries.questions import EXPERIMENT_ENVIRONMENT

RUN_SPAN = "llmsight.experiment.run"
ROW_SPAN = "llmsight.experiment.row"
EVALUATION_SPAN = "llmsight.evaluation"
ENVIRONMENT = EXPERIMENT_ENVIRONMENT  # deployment.environment.name of experiment data: production views leave it out


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[:limit]


def context_json(docs: tuple[str, ...] | list[str]) -> str:
    kept: list[str] = []
    budget = MAX_CONTEXT_CHARS
    for doc in docs:
        if budget <= 0:
            break
        kept.append(doc[:budget])
        budget -= len(doc)
    return json.dumps(kept, ensure_ascii=False)


class ExperimentTelemetry:
    """A tracer provider exporting to the run's collector, and the spans an experiment sends."""

    def __init__(self, endpoint: str, token: str | None, service_name: str, experiment: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        self.experiment = experiment
        resource = Resource.create(
            {"service.name": service_name, "deployment.environment.name": ENVIRONMENT, EXPERIMENTS_ATTRIBUTE: "1"}
        )  # the collector files experiment data only from a token allowed to send it (collector/auth.py)
        self.provider = TracerProvider(resource=resource)
        headers = {"authorization": f"Bearer {token}"} if token else None
        self.exporter = DropCountingExporter(
            OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", headers=headers, timeout=30)
        )
        # A queue that holds a whole run: a dropped score would be judged (and paid for) again.
        self.provider.add_span_processor(
            BatchSpanProcessor(self.exporter, max_queue_size=1 << 17, schedule_delay_millis=200)
        )
        self.tracer = self.provider.get_tracer("llmsight.experiments")

    def instrument(self) -> None:
        """Trace the target's LLM calls into this run (``llmsight.instrument`` with this provider)."""
        import llmsight

        llmsight.instrument(tracer_provider=self.provider)

    def uninstrument(self) -> None:
        """Stop tracing LLM calls: the judge's own calls are not the app's."""
        import llmsight

        llmsight.uninstrument()

    def close(self) -> None:
        self.uninstrument()
        self.provider.shutdown()

    def flush(self) -> bool:
        return self.provider.force_flush(60_000)

    @property
    def dropped(self) -> int:
        return self.exporter.dropped

    def run(self, attributes: Mapping[str, Any]) -> None:
        now = time.time_ns()
        span = self.tracer.start_span(
            RUN_SPAN,
            kind=SpanKind.INTERNAL,
            attributes={"llmsight.experiment.name": self.experiment, **attributes},
            start_time=now,
        )
        span.end(end_time=now)

    @contextmanager
    def row(self, row_id: str, dataset_hash: str, question: str, ground_truth: str) -> Iterator[Any]:
        """The row's root span; the caller sets its answer with ``answered`` or its error with ``failed``."""
        attributes = {
            "llmsight.experiment.name": self.experiment,
            "llmsight.dataset.row_id": row_id,
            "llmsight.dataset.hash": dataset_hash,
            "llmsight.experiment.question": _clip(question),
            "llmsight.experiment.ground_truth": _clip(ground_truth),
        }
        with self.tracer.start_as_current_span(
            ROW_SPAN, context=trace.set_span_in_context(trace.INVALID_SPAN), kind=SpanKind.SERVER,
            attributes=attributes, record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            yield span

    @staticmethod
    def answered(span: Any, answer: str, context: tuple[str, ...]) -> None:
        span.set_attribute("llmsight.experiment.answer", _clip(answer))
        if context:
            span.set_attribute("llmsight.experiment.context", context_json(context))

    @staticmethod
    def failed(span: Any, error: str) -> None:
        span.set_attribute("llmsight.experiment.error", error[:2000] or "error")
        span.set_status(Status(StatusCode.ERROR, error[:200]))

    def evaluation(
        self, trace_id: str, span_id: str, span_time_ns: int, row: Mapping[str, Any], at_ns: int | None = None
    ) -> None:
        """One score (a ``llmsight.evaluator.worker.eval_row`` dict) as a child of the judged row span, placed
        at ``at_ns`` (the row span's end: the trace lasts as long as the app did, not the judging)."""
        parent = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1))
        status = str(row["Status"])
        label = "" if row["Passed"] is None else ("pass" if row["Passed"] else "fail")
        attributes: dict[str, Any] = {
            "llmsight.experiment.name": self.experiment,
            "gen_ai.evaluation.name": row["Metric"],
            "gen_ai.evaluation.explanation": str(row["Reason"])[:4000],
            "llmsight.evaluation.status": status,
            "llmsight.evaluation.scale": row["Scale"],
            "llmsight.evaluation.threshold": float(row["Threshold"]),
            "llmsight.evaluation.category": row["Category"],
            "llmsight.evaluation.judge_model": row["JudgeModel"],
            "llmsight.evaluation.prompt_version": row["PromptVersion"],
            "llmsight.evaluation.judge_input_tokens": int(row["JudgeInputTokens"]),
            "llmsight.evaluation.judge_output_tokens": int(row["JudgeOutputTokens"]),
            "llmsight.evaluation.judge_cost": float(row["JudgeCost"]),
            "llmsight.evaluation.judge_latency_ms": float(row["JudgeLatencyMs"]),
            "llmsight.evaluation.span_time_unix_nano": str(span_time_ns),
        }
        if row["Score"] is not None:
            attributes["gen_ai.evaluation.score.value"] = int(row["Score"])
        if row["WeightedScore"] is not None:
            attributes["llmsight.evaluation.weighted_score"] = float(row["WeightedScore"])
        if label:
            attributes["gen_ai.evaluation.score.label"] = label
        if status == "judge_error":
            attributes["error.type"] = "judge_error"
        now = at_ns or time.time_ns()
        span = self.tracer.start_span(
            EVALUATION_SPAN,
            context=trace.set_span_in_context(NonRecordingSpan(parent)),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=now,
        )
        event = {k: v for k, v in attributes.items() if k.startswith("gen_ai.evaluation.")}
        span.add_event("gen_ai.evaluation.result", event, timestamp=now)
        span.end(end_time=now)
