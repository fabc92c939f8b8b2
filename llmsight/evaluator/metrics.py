"""The metrics the judge scores, and what each needs from a call: one per rubric file.

A metric is a rubric file (``rubric.py``): ours in ``rubrics/``, a user's added or overridden from
``--rubrics-dir``. It is only judged when the call carries every input it requires; otherwise the
evaluator records ``not_applicable`` instead of asking the judge to guess (a groundedness score
without retrieved context would be noise dressed up as a number).

Two scales share one storage: ``1-5`` (a score at or above the threshold passes) and ``binary``
(pass / fail, stored as score 1 / 0 with threshold 1), so every pass rate, failing-answer list and
monitor reads both the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmsight.evaluator.rubric import Rubric, RubricError, builtin_rubrics, load_all

DEFAULT_THRESHOLD = 4.0
BINARY_THRESHOLD = 1.0  # a binary score is 1 (pass) or 0 (fail)

# Judged when no metric list is given: Azure's generation-quality set.
DEFAULT_METRICS: tuple[str, ...] = ("groundedness", "relevance", "coherence", "fluency", "similarity")
# Judged in addition on every call the pre-screen flagged (call_screens, store/sql/024_call_screens_mv.sql).
SAFETY_METRICS: tuple[str, ...] = ("harmful_content", "prompt_injection")


@dataclass(frozen=True)
class Metric:
    name: str
    requires: tuple[str, ...]  # names of EvalInputs fields that must be non-empty
    description: str
    threshold: float = DEFAULT_THRESHOLD
    scale: str = "1-5"
    optional: tuple[str, ...] = ()  # shown to the judge when present
    categories: tuple[str, ...] = ()  # the judge names one for a failing answer

    @property
    def binary(self) -> bool:
        return self.scale == "binary"


def metric_from_rubric(rubric: Rubric) -> Metric:
    if rubric.scale == "binary":
        threshold = BINARY_THRESHOLD
    else:
        threshold = rubric.threshold if rubric.threshold is not None else DEFAULT_THRESHOLD
    return Metric(
        rubric.metric,
        rubric.inputs,
        rubric.description,
        threshold,
        rubric.scale,
        rubric.optional_inputs,
        rubric.categories,
    )


def available_metrics(rubrics_dir: str | Path | None = None) -> dict[str, Metric]:
    """Every metric by name: ours, plus the rubric directory's (argument, else LLMSIGHT_RUBRICS_DIR)."""
    return {name: metric_from_rubric(r) for name, r in load_all(rubrics_dir).items()}


# The built-in metrics (no rubric directory): the default set and the safety metrics.
METRICS: dict[str, Metric] = {name: metric_from_rubric(r) for name, r in builtin_rubrics().items()}


class UnknownMetricError(ValueError):
    """A metric name that llmsight does not know; the message lists the ones it does."""


def parse_metrics(spec: str | Sequence[str] | None, rubrics_dir: str | Path | None = None) -> list[Metric]:
    """Turn ``"groundedness,relevance"`` (or a list) into metric definitions, keeping the order given.

    Raises ``UnknownMetricError`` for a name no rubric defines and ``RubricError`` for a broken rubric file.
    """
    if spec is None or spec == "" or len(spec) == 0:
        names = list(DEFAULT_METRICS)
    elif isinstance(spec, str):
        names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    else:
        names = [n.strip().lower() for n in spec]
    known = available_metrics(rubrics_dir)
    unknown = [n for n in names if n not in known]
    if unknown:
        where = " (add <name>.md to --rubrics-dir for a metric of your own)"
        raise UnknownMetricError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(known)}{where}")
    return [known[n] for n in dict.fromkeys(names)]


__all__ = [
    "BINARY_THRESHOLD",
    "DEFAULT_METRICS",
    "DEFAULT_THRESHOLD",
    "METRICS",
    "SAFETY_METRICS",
    "Metric",
    "RubricError",
    "UnknownMetricError",
    "available_metrics",
    "metric_from_rubric",
    "parse_metrics",
]
