"""Compare two experiment runs metric by metric, with a paired bootstrap confidence interval.

Rows are paired by id (both runs scored the row on the metric), so the interval is about the same
questions answered two ways, not two samples of different questions. The difference is B - A of
the per-row score (for a pass/fail metric the score is 1 / 0, so it is the pass rate's). When the
95% interval holds 0 the runs are reported as no change: a difference the data cannot tell apart
from the judge's and the app's noise. Seeded, so the same runs always give the same interval.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from llmsight.experiments.results import RunResults

RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_PAIRS = 5  # fewer paired rows than this: too few to tell
SEED = 20_261_206


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float | None
    pass_rate: float | None
    passed: int


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    a: Summary
    b: Summary
    pairs: int
    diff: float | None  # mean of B - A over paired rows
    ci: tuple[float, float] | None
    pass_rate_diff: float | None
    pass_rate_ci: tuple[float, float] | None
    verdict: str  # regression | improvement | no change | too few rows
    lost: int = 0  # rows A scored that are "not applicable" in B (the app stopped giving the judge what it needs)


@dataclass(frozen=True)
class RowChange:
    row_id: str
    question: str
    change: float  # sum over metrics of B - A
    metrics: dict[str, tuple[int, int]]  # metric -> (score A, score B) where it changed
    trace_a: str
    trace_b: str


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    metrics: list[MetricComparison]
    regressed_rows: list[RowChange] = field(default_factory=list)
    same_dataset: bool = True

    @property
    def regressions(self) -> list[MetricComparison]:
        return [m for m in self.metrics if m.verdict == "regression"]


def summarize(run: RunResults, metric: str) -> Summary:
    scores = run.ok_scores(metric)
    if not scores:
        return Summary(0, None, None, 0)
    values = [float(s["score"]) for s in scores.values()]
    passed = sum(int(s["passed"] or 0) for s in scores.values())
    return Summary(len(values), sum(values) / len(values), passed / len(values), passed)


def bootstrap_ci(diffs: list[float], rng: random.Random, resamples: int = RESAMPLES) -> tuple[float, float]:
    """The percentile interval of the mean of ``diffs`` resampled with replacement."""
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - CONFIDENCE) / 2
    return means[int(tail * resamples)], means[min(resamples - 1, int((1 - tail) * resamples))]


def _verdict(pairs: int, ci: tuple[float, float] | None) -> str:
    if pairs < MIN_PAIRS or ci is None:
        return "too few rows"
    if ci[1] < 0:
        return "regression"
    if ci[0] > 0:
        return "improvement"
    return "no change"


def compare_metric(a: RunResults, b: RunResults, metric: str) -> MetricComparison:
    sa, sb = a.ok_scores(metric), b.ok_scores(metric)
    paired = sorted(set(sa) & set(sb))
    not_applicable = {s["row_id"] for s in b.scores if s["metric"] == metric and s["status"] == "not_applicable"}
    lost = len(set(sa) & not_applicable)
    diffs = [float(sb[r]["score"]) - float(sa[r]["score"]) for r in paired]
    pass_diffs = [float(sb[r]["passed"] or 0) - float(sa[r]["passed"] or 0) for r in paired]
    ci = pass_ci = None
    if len(paired) >= MIN_PAIRS:
        ci = bootstrap_ci(diffs, random.Random(f"{SEED}:{metric}"))
        pass_ci = bootstrap_ci(pass_diffs, random.Random(f"{SEED}:{metric}:pass"))
    return MetricComparison(
        metric,
        summarize(a, metric),
        summarize(b, metric),
        len(paired),
        sum(diffs) / len(diffs) if diffs else None,
        ci,
        sum(pass_diffs) / len(pass_diffs) if pass_diffs else None,
        pass_ci,
        _verdict(len(paired), ci),
        lost,
    )


def regressed_rows(a: RunResults, b: RunResults, metrics: list[str], limit: int = 5) -> list[RowChange]:
    """The rows whose scores fell most from A to B (summed over the metrics both scored), worst first."""
    changes: list[RowChange] = []
    per_metric = {m: (a.ok_scores(m), b.ok_scores(m)) for m in metrics}
    for row_id in sorted(set(a.rows) & set(b.rows)):
        moved: dict[str, tuple[int, int]] = {}
        total = 0.0
        for metric, (sa, sb) in per_metric.items():
            if row_id in sa and row_id in sb and sa[row_id]["score"] != sb[row_id]["score"]:
                moved[metric] = (int(sa[row_id]["score"]), int(sb[row_id]["score"]))
                total += float(sb[row_id]["score"]) - float(sa[row_id]["score"])
        if total < 0:
            ra, rb = a.rows[row_id], b.rows[row_id]
            changes.append(RowChange(row_id, rb["question"], total, moved, ra["trace_id"], rb["trace_id"]))
    changes.sort(key=lambda c: (c.change, c.row_id))
    return changes[:limit]


def judged_differently(a: RunResults, b: RunResults) -> list[str]:
    """Why the two runs' scores are not comparable: another judge, or another prompt for a metric both have."""
    import json

    reasons = []
    if a.info["judge_model"] != b.info["judge_model"]:
        reasons.append(f"{a.name} was judged by {a.info['judge_model']}, {b.name} by {b.info['judge_model']}")
    va, vb = json.loads(a.info["rubric_versions"] or "{}"), json.loads(b.info["rubric_versions"] or "{}")
    for metric in sorted(set(va) & set(vb)):
        if va[metric] != vb[metric]:
            reasons.append(f"{metric}'s judge prompt differs ({va[metric]} in {a.name}, {vb[metric]} in {b.name})")
    return reasons


def compare(a: RunResults, b: RunResults, limit: int = 5) -> Comparison:
    metrics = [m for m in b.metrics if m in a.metrics]
    return Comparison(
        a.name,
        b.name,
        [compare_metric(a, b, m) for m in metrics],
        regressed_rows(a, b, metrics, limit),
        a.info["dataset_hash"] == b.info["dataset_hash"],
    )
