"""The payload a monitor run hands to notifications: one metric's result, already decided.

Terminology, used the same way in every message: a *violation* is one monitor run in which a
metric's computed value (average score, pass rate, error rate, ... over the lookback window)
misses its target. A single call whose score is below the per-call threshold is a *failing
answer*, not a violation; the worst samples attached to an alert are such answers, there so a
person can open them (``llmsight trace <trace_id>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["Alert", "WorstSample"]


@dataclass(frozen=True)
class WorstSample:
    """One of the lowest-scoring calls in the window; ``score`` is None for calls that were not scored."""

    trace_id: str
    span_id: str
    score: float | None
    reason: str


@dataclass(frozen=True)
class Alert:
    """A violation (the value misses its target) or its resolution (the first ok run after a notified violation).

    ``comparison`` is the direction the value must satisfy: ``>=`` for pass rates, averages,
    coverage and minimum request counts, ``<=`` for error rates, latencies and budgets.
    """

    kind: Literal["violation", "resolved"]
    monitor: str
    signal: str
    metric: str
    statistic: str
    value: float | None
    target: float
    comparison: Literal[">=", "<="]
    window_start: datetime
    window_end: datetime
    sample_count: int
    run_at: datetime
    filters: dict[str, str] = field(default_factory=dict)
    worst: tuple[WorstSample, ...] = ()
    first_violation_at: datetime | None = None

    def __post_init__(self) -> None:
        # Naive datetimes would be rendered as if they were UTC and silently mislabel the window.
        for name in ("window_start", "window_end", "run_at", "first_violation_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"Alert.{name} must be timezone-aware (UTC), got {value!r}")
        if self.kind not in ("violation", "resolved"):
            raise ValueError(f"Alert.kind must be 'violation' or 'resolved', got {self.kind!r}")
        if self.comparison not in (">=", "<="):
            raise ValueError(f"Alert.comparison must be '>=' or '<=', got {self.comparison!r}")
