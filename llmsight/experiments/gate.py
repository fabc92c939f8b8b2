"""The CI gate: does a run meet its targets, and did it regress against a baseline run?

Targets are the monitor file's quality targets (``pass_rate_min`` and ``average_min`` per metric,
the same ones production is watched with), with ``--fail-under metric=RATE`` on top. Exit codes:
0 passed; 1 a target missed or a significant regression; 3 the run is incomplete (rows the target
failed on, judge errors, scores missing), so its figures cannot be trusted; 2 is left to usage
errors (a bad flag, an unknown run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmsight.experiments.compare import Comparison, Summary, summarize
from llmsight.experiments.results import RunResults

PASSED, FAILED, INCOMPLETE = 0, 1, 3


class GateError(ValueError):
    """The gate cannot be set up as asked (a malformed --fail-under, a metric the run did not judge)."""


@dataclass(frozen=True)
class Target:
    pass_rate_min: float | None = None
    average_min: float | None = None


@dataclass(frozen=True)
class Check:
    metric: str
    kind: str  # pass_rate | average | regression | coverage
    value: float | None
    target: float | None
    ok: bool
    message: str


@dataclass
class GateResult:
    run: RunResults
    summaries: dict[str, Summary]
    targets: dict[str, Target]
    checks: list[Check]
    comparison: Comparison | None = None
    missing: list[tuple[str, str, str]] = field(default_factory=list)  # (row id, metric, why)
    unanswered: int = 0

    @property
    def incomplete(self) -> bool:
        return bool(self.missing) or self.unanswered > 0 or any(c.value is None for c in self.checks)

    @property
    def exit_code(self) -> int:
        if any(not c.ok and c.value is not None for c in self.checks):
            return FAILED
        return INCOMPLETE if self.incomplete else PASSED

    @property
    def verdict(self) -> str:
        return {PASSED: "passed", FAILED: "failed", INCOMPLETE: "incomplete"}[self.exit_code]


def parse_fail_under(items: list[str]) -> dict[str, float]:
    """``["groundedness=0.8", "relevance=0.9,coherence=0.7"]`` -> {metric: least pass rate}."""
    out: dict[str, float] = {}
    for item in (p.strip() for text in items for p in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or not name.strip() or not 0 <= rate <= 1:
            raise GateError(
                f"--fail-under {item!r}: use METRIC=RATE with RATE a pass rate from 0 to 1, e.g. groundedness=0.8"
            )
        out[name.strip()] = rate
    return out


def monitor_targets(loaded: Any, monitor: str = "") -> dict[str, Target]:
    """Quality targets of the named monitor (else the first that watches quality) of a loaded monitor file."""
    monitors = list(loaded.file.monitors)
    if monitor:
        monitors = [m for m in monitors if m.name == monitor]
        if not monitors:
            names = ", ".join(m.name for m in loaded.file.monitors)
            raise GateError(f"{loaded.source} has no monitor named {monitor!r} (it has {names})")
    for m in monitors:
        quality = m.signals.quality
        if quality is not None:
            return {name: Target(spec.pass_rate_min, spec.average_min) for name, spec in quality.metrics.items()}
    return {}


def evaluate_gate(
    run: RunResults,
    targets: dict[str, Target],
    fail_under: dict[str, float],
    comparison: Comparison | None = None,
) -> GateResult:
    unknown = [m for m in fail_under if m not in run.metrics]
    if unknown:
        raise GateError(f"--fail-under {', '.join(unknown)}: run {run.name!r} judged {', '.join(run.metrics)}")
    merged = {m: t for m, t in targets.items() if m in run.metrics}
    for metric, rate in fail_under.items():
        merged[metric] = Target(rate, merged.get(metric, Target()).average_min)
    summaries = {m: summarize(run, m) for m in run.metrics}
    checks: list[Check] = []
    for metric, target in merged.items():
        s = summaries[metric]
        for kind, value, least in (("pass_rate", s.pass_rate, target.pass_rate_min),
                                   ("average", s.mean, target.average_min)):  # fmt: skip
            if least is None:
                continue
            shown = (lambda v: f"{v:.0%}") if kind == "pass_rate" else (lambda v: f"{v:.2f}")
            if value is None:
                checks.append(Check(metric, kind, None, least, False, f"{metric}: no scores to check {kind}"))
                continue
            ok = value >= least
            relation = ">=" if ok else "<"
            checks.append(
                Check(
                    metric,
                    kind,
                    value,
                    least,
                    ok,
                    f"{metric} {kind.replace('_', ' ')} {shown(value)} {relation} {shown(least)}",
                )
            )
    if comparison is not None:
        for mc in comparison.metrics:
            if mc.lost:  # pairing only scored rows would hide an app that stopped answering them
                checks.append(
                    Check(mc.metric, "coverage", float(mc.lost), 0.0, False,
                          f"{mc.metric}: {mc.lost} rows scored in {comparison.a} have no score now")
                )  # fmt: skip
            ok = mc.verdict != "regression"
            detail = f"{mc.diff:+.2f}" if mc.diff is not None else "n/a"
            if mc.ci is not None:
                detail += f" [{mc.ci[0]:+.2f}, {mc.ci[1]:+.2f}]"
            checks.append(
                Check(
                    mc.metric, "regression", mc.diff, 0.0, ok, f"{mc.metric} vs {comparison.a}: {mc.verdict} ({detail})"
                )
            )
    return GateResult(run, summaries, merged, checks, comparison, run.missing(), run.unanswered())
