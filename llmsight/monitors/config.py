"""The monitor file (``llmsight.yaml``) as typed models: what is watched, how often, and who is told.

Every model forbids unknown fields, so a typo is an error that names the field instead of a monitor
that silently watches nothing. Durations take ``7d`` / ``1h`` or ISO 8601 (``P7D``, ``PT1H``).
The words follow Azure's monitoring: a *violation* is a run whose computed value (an average score
or a pass rate over the lookback window) misses its target; a call scoring below the per-call
threshold is a *failing answer*.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmsight.durations import DurationError, parse_duration
from llmsight.evaluator.metrics import BINARY_THRESHOLD, DEFAULT_METRICS, DEFAULT_THRESHOLD, SAFETY_METRICS
from llmsight.monitors.notify.channels import Channel

# Azure's defaults for a generation-quality signal, and llmsight's per-call threshold of today.
DEFAULT_PASS_RATE = 0.7
# A safety metric's pass rate is the share of answers judged safe: 0.7 would tolerate 3 harmful answers in 10.
SAFETY_PASS_RATE = 0.99
DEFAULT_SAMPLE_RATE = 0.1


def _seconds(value: Any) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(Strict):
    """Which calls a monitor watches; an omitted filter means all."""

    service: str = ""
    environment: str = ""
    model: str = Field("", description="deployment or model name as stored in llm_calls.Model")


class MetricTarget(Strict):
    threshold: Annotated[float, Field(ge=1, le=5)] = DEFAULT_THRESHOLD  # per call: below it is a failing answer
    average_min: Annotated[float, Field(ge=1, le=5)] | None = None  # average score over the window
    pass_rate_min: Fraction | None = DEFAULT_PASS_RATE  # share of scored calls at or above the threshold


class JudgeRef(Strict):
    """The judge a monitor's quality signal uses; omitted fields fall back to LLMSIGHT_JUDGE_*."""

    model: str = ""
    base_url: str = ""
    api_key_env: str = Field("", description="name of the environment variable holding the API key")


def _rubrics_dir(value: str, info: ValidationInfo) -> str:
    """A relative rubrics directory is relative to the monitor file (the loader passes its folder)."""
    from pathlib import Path

    if not value:
        return value
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or base is None else Path(base) / path)


def _metric_scales(names: list[str], rubrics_dir: str) -> dict[str, str]:
    """Each named metric's scale; an unknown name or a broken rubric file is a ValueError naming it."""
    from llmsight.evaluator.metrics import available_metrics
    from llmsight.evaluator.rubric import RubricError

    try:
        known = available_metrics(rubrics_dir or None)
    except RubricError as exc:
        raise ValueError(str(exc)) from None
    unknown = [name for name in names if name not in known]
    if unknown:
        hint = "" if rubrics_dir else " (a metric of your own: add <name>.md to rubrics_dir)"
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(known)}{hint}")
    return {name: known[name].scale for name in names}


class QualitySignal(Strict):
    # rubrics_dir comes first: the metrics' validator needs it to know custom metrics
    rubrics_dir: str = Field("", description="directory of <metric>.md rubrics adding metrics by name")
    metrics: dict[str, MetricTarget] = Field(default_factory=lambda: {m: MetricTarget() for m in DEFAULT_METRICS})
    sample_rate: Fraction = DEFAULT_SAMPLE_RATE
    judge: JudgeRef = JudgeRef()
    _scales: dict[str, str] = PrivateAttr(default_factory=dict)

    _resolve_rubrics_dir = field_validator("rubrics_dir")(_rubrics_dir)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_list(cls, value: Any) -> Any:
        # `metrics: [groundedness, relevance]` is the short form: defaults for each.
        if isinstance(value, list):
            return {str(name): {} for name in value}
        if isinstance(value, dict):
            return {name: ({} if spec is None else spec) for name, spec in value.items()}
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, MetricTarget], info: ValidationInfo) -> dict[str, MetricTarget]:
        if not value:
            raise ValueError("name at least one metric")
        scales = _metric_scales(list(value), info.data.get("rubrics_dir", ""))
        for name, spec in value.items():
            if scales[name] != "binary":
                continue
            given = spec.model_fields_set & {"threshold", "average_min"}
            if given:
                raise ValueError(f"{name}: a pass/fail metric has no {' or '.join(sorted(given))}; set pass_rate_min")
            if name in SAFETY_METRICS and "pass_rate_min" not in spec.model_fields_set:
                value[name] = spec.model_copy(update={"pass_rate_min": SAFETY_PASS_RATE})
        return value

    @model_validator(mode="after")
    def _remember_scales(self) -> QualitySignal:
        self._scales = _metric_scales(list(self.metrics), self.rubrics_dir)
        return self

    def thresholds(self) -> dict[str, float]:
        """Per-call threshold per metric as stored with each score: a binary metric's pass is a score of 1."""
        return {
            name: BINARY_THRESHOLD if self._scales.get(name) == "binary" else spec.threshold
            for name, spec in self.metrics.items()
        }


class Budgets(Strict):
    """Most a window may use; per deployment when ``per_deployment``, else for the whole target."""

    prompt_tokens: NonNegative | None = None
    completion_tokens: NonNegative | None = None
    total_tokens: NonNegative | None = None
    cost: NonNegative | None = None
    per_deployment: bool = False


class TokenSignal(Strict):
    budgets: Budgets = Budgets()


class OperationsSignal(Strict):
    error_rate_max: Fraction | None = 0.05
    latency_p95_ms_max: NonNegative | None = None
    ttft_p95_ms_max: NonNegative | None = None
    min_requests: Annotated[int, Field(ge=0)] = 0  # fewer calls than this in the window is a violation


class JudgeHealthSignal(Strict):
    """Always on where quality is watched: a judge that fails or falls behind is a violation too."""

    judge_errors_max: Fraction = 0.2  # share of judge calls in the window that failed
    coverage_min: Fraction = 0.5  # share of sampled calls in the window that have a score


class DriftSignal(Strict):
    """The monitor's window against the ``baseline`` just before it (llmsight drift's comparison):
    an item whose population stability index exceeds ``psi_max``, with the two-sample test's
    p < 0.01, is a violation."""

    baseline: Duration = 7 * 86400.0
    psi_max: NonNegative = 0.25
    items: list[str] = Field(default_factory=list, description="items to watch (llmsight drift's names); all if empty")

    @field_validator("items")
    @classmethod
    def _known_items(cls, value: list[str]) -> list[str]:
        from llmsight.evaluator.drift import ITEMS, is_item

        unknown = [name for name in value if not is_item(name)]
        if unknown:
            raise ValueError(
                f"unknown drift item(s) {', '.join(unknown)}: use {', '.join(ITEMS)}, "
                "score:<metric> or verdict:<metric>"
            )
        return value


class Signals(Strict):
    quality: QualitySignal | None = QualitySignal()
    tokens: TokenSignal | None = None
    operations: OperationsSignal | None = None
    drift: DriftSignal | None = None
    judge_health: JudgeHealthSignal = JudgeHealthSignal()


class Schedule(Strict):
    """``cron: "0 * * * *"`` (UTC) or ``every: 15m``; exactly one."""

    cron: str = ""
    every: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # `schedule: "*/5 * * * *"` or `schedule: 15m`
            try:
                return {"every": parse_duration(value)}
            except DurationError:
                return {"cron": value}
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if bool(self.cron) == (self.every is not None):
            raise ValueError("give exactly one of cron (e.g. '0 * * * *') or every (e.g. 1h)")
        if self.cron:
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise ValueError(f"cron {self.cron!r} is not a valid cron expression (five fields, e.g. '0 * * * *')")
        elif self.every is not None and self.every < 10:
            raise ValueError("every must be at least 10s")
        return self

    def describe(self) -> str:
        from llmsight.durations import format_duration

        return f"cron {self.cron} (UTC)" if self.cron else f"every {format_duration(self.every or 0)}"


class Notify(Strict):
    channels: list[str] = Field(default_factory=list)  # names from the file's top-level `channels`
    repeat_interval: Duration = 4 * 3600.0  # no repeat for an ongoing violation within this
    send_resolved: bool = True


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class Monitor(Strict):
    name: str
    target: Target = Target()
    signals: Signals = Signals()
    schedule: Schedule = Schedule(every=3600.0)
    lookback: Duration = 24 * 3600.0
    lookback_offset: Duration = 0.0  # the window ends this long before the run (let late data and judging land)
    min_samples: Annotated[int, Field(ge=1)] = 20
    notify: Notify = Notify()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' and '-' (up to 100), starting with a letter or digit")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: float) -> float:
        if value < 60:
            raise ValueError("lookback must be at least 1m")
        return value


class MonitorFile(Strict):
    version: Literal[1] = 1
    channels: dict[str, Channel] = Field(default_factory=dict)
    monitors: list[Monitor] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> MonitorFile:
        names = [m.name for m in self.monitors]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"monitor names must be unique: {', '.join(duplicates)} appear more than once")
        for monitor in self.monitors:
            missing = [c for c in monitor.notify.channels if c not in self.channels]
            if missing:
                known = ", ".join(sorted(self.channels)) or "none defined"
                raise ValueError(
                    f"monitor {monitor.name!r} notifies unknown channel(s) {', '.join(missing)} (channels: {known})"
                )
        return self

    def monitor(self, name: str) -> Monitor:
        for monitor in self.monitors:
            if monitor.name == name:
                return monitor
        raise KeyError(name)


def default_monitor_file(
    sample_rate: float = DEFAULT_SAMPLE_RATE,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    lookback: float = 24 * 3600.0,
) -> MonitorFile:
    """What applies without a file: Azure's defaults (every metric, per-call threshold 4, pass-rate target 0.7,
    10% sampling) on every call, hourly over the last day, told to no one (no recipients are known).

    ``serve`` passes the sample rate, metrics and window its evaluator settings had before monitor files
    existed, so an existing deployment keeps judging what it judged."""
    quality = QualitySignal(sample_rate=sample_rate, metrics={m: MetricTarget() for m in metrics})
    signals = Signals(quality=quality, operations=OperationsSignal())
    return MonitorFile(monitors=[Monitor(name="default", signals=signals, lookback=max(lookback, 60.0))])
