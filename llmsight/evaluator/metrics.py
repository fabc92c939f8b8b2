"""The quality metrics the judge scores, and what each needs from a call.

A metric is only judged when the call carries every input it requires; otherwise the
evaluator records ``not_applicable`` instead of asking the judge to guess (a groundedness
score without retrieved context would be noise dressed up as a number).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_THRESHOLD = 4.0


@dataclass(frozen=True)
class Metric:
    name: str
    requires: tuple[str, ...]  # names of EvalInputs fields that must be non-empty
    description: str
    threshold: float = DEFAULT_THRESHOLD


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("groundedness", ("answer", "context"), "Is every claim in the answer supported by the context?"),
        Metric("relevance", ("question", "answer"), "Does the answer address what was asked?"),
        Metric("coherence", ("answer",), "Is the answer well organised and logically consistent?"),
        Metric("fluency", ("answer",), "Is the answer grammatical and easy to read?"),
        Metric("similarity", ("question", "answer", "ground_truth"), "Does the answer match the reference?"),
    )
}

DEFAULT_METRICS: tuple[str, ...] = tuple(METRICS)


class UnknownMetricError(ValueError):
    """A metric name that llmsight does not know; the message lists the ones it does."""


def parse_metrics(spec: str | list[str] | tuple[str, ...] | None) -> list[Metric]:
    """Turn ``"groundedness,relevance"`` (or a list) into metric definitions, keeping the order given."""
    if spec is None or spec == "" or spec == []:
        names = list(DEFAULT_METRICS)
    elif isinstance(spec, str):
        names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    else:
        names = [n.strip().lower() for n in spec]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise UnknownMetricError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    return [METRICS[n] for n in dict.fromkeys(names)]
