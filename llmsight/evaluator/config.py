"""Evaluator settings: the shared ``Settings`` (judge model, endpoint, key, sample rate) plus the
knobs only the evaluator has (metrics, window, concurrency, caps), overridable by CLI flags.

The extra knobs also read ``LLMSIGHT_*`` environment variables so ``serve``'s scheduled runs,
which get no flags, can be tuned the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

from llmsight.evaluator.metrics import DEFAULT_METRICS


class EvaluatorConfigError(ValueError):
    """The evaluator cannot run as configured; the message says which setting to change."""


def parse_duration(text: str | float | int) -> float:
    """``90s``, ``15m``, ``1h``, ``7d``, ``P7D`` (or a bare number of seconds) -> seconds."""
    from llmsight.durations import DurationError
    from llmsight.durations import parse_duration as parse

    try:
        return parse(text)
    except DurationError as exc:
        raise EvaluatorConfigError(str(exc)) from None


def _env(name: str, cast: Any, default: Any) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise EvaluatorConfigError(f"{name}={raw!r} is not a valid value") from None


@dataclass(frozen=True)
class EvaluatorConfig:
    judge_model: str = ""
    judge_base_url: str = ""
    judge_api_key: str = ""
    sample_rate: float = 0.1
    metrics: tuple[str, ...] = field(default=DEFAULT_METRICS)
    since_s: float = 24 * 3600  # look-back window for candidates; serve's scheduled runs use it
    service: str = ""
    environment: str = ""
    model: str = ""
    thresholds: tuple[tuple[str, float], ...] = ()  # (metric, per-call threshold) overriding the default 4
    score_mode: str = "integer"  # or "weighted" (G-Eval style, needs logprobs)
    concurrency: int = 4
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_calls_per_hour: int = 1000  # judge calls in any sliding hour; 0 = unlimited
    max_spans_per_run: int = 500
    rubrics_dir: str = ""
    emit_events: bool = True
    shard: str = ""  # "I/N": this worker judges shard I of N (several evaluator workers, one sample)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> EvaluatorConfig:
        """From ``llmsight.settings.Settings`` and env, with non-None ``overrides`` (CLI flags) on top."""
        base = cls(
            judge_model=getattr(settings, "judge_model", "") or "",
            judge_base_url=getattr(settings, "judge_base_url", "") or "",
            judge_api_key=getattr(settings, "judge_api_key", "") or "",
            sample_rate=float(getattr(settings, "sample_rate", 0.1)),
            metrics=tuple(
                m.strip()
                for m in _env("LLMSIGHT_EVALUATOR_METRICS", str, ",".join(DEFAULT_METRICS)).split(",")
                if m.strip()
            ),
            since_s=parse_duration(_env("LLMSIGHT_EVALUATOR_SINCE", str, "24h")),
            score_mode=_env("LLMSIGHT_JUDGE_SCORE_MODE", str, "integer"),
            concurrency=_env("LLMSIGHT_JUDGE_CONCURRENCY", int, 4),
            timeout_s=_env("LLMSIGHT_JUDGE_TIMEOUT_S", float, 60.0),
            max_retries=_env("LLMSIGHT_JUDGE_MAX_RETRIES", int, 3),
            max_calls_per_hour=_env("LLMSIGHT_JUDGE_MAX_CALLS_PER_HOUR", int, 1000),
            max_spans_per_run=_env("LLMSIGHT_EVALUATOR_MAX_SPANS_PER_RUN", int, 500),
            rubrics_dir=_env("LLMSIGHT_RUBRICS_DIR", str, ""),
            shard=_env("LLMSIGHT_EVALUATOR_SHARD", str, ""),
        )
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown EvaluatorConfig fields: {sorted(unknown)}")
        cfg = replace(base, **{k: v for k, v in overrides.items() if v is not None})
        if isinstance(cfg.metrics, str):
            cfg = replace(cfg, metrics=tuple(m.strip() for m in cfg.metrics.split(",") if m.strip()))
        return cfg.validated()

    def validated(self) -> EvaluatorConfig:
        if not 0.0 <= self.sample_rate <= 1.0:
            raise EvaluatorConfigError(f"sample rate {self.sample_rate} must be between 0 and 1")
        if self.score_mode not in ("integer", "weighted"):
            raise EvaluatorConfigError(f"score mode {self.score_mode!r}: use 'integer' or 'weighted'")
        if self.concurrency < 1:
            raise EvaluatorConfigError("concurrency must be at least 1")
        self.shard_tuple()  # raises for a malformed shard
        return self

    def shard_tuple(self) -> tuple[int, int]:
        """``"1/3"`` -> ``(1, 3)``; empty means the whole sample."""
        if not self.shard:
            return (0, 1)
        index, _, count = self.shard.partition("/")
        if not (index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
            raise EvaluatorConfigError(f"shard {self.shard!r}: use I/N with 0 <= I < N, e.g. 0/3")
        return (int(index), int(count))

    def require_judge(self) -> None:
        """Raise a readable error naming the env vars when no usable judge is configured."""
        if not self.judge_model:
            raise EvaluatorConfigError(
                "no judge configured: set LLMSIGHT_JUDGE_MODEL (e.g. gpt-4o-mini) and LLMSIGHT_JUDGE_API_KEY, "
                "or LLMSIGHT_JUDGE_BASE_URL for an OpenAI-compatible server (vLLM, Ollama, LiteLLM); "
                "or pass --judge-model / --judge-base-url"
            )
        if not self.judge_base_url and not (self.judge_api_key or os.environ.get("OPENAI_API_KEY")):
            raise EvaluatorConfigError(
                f"judge model {self.judge_model!r} has no API key: set LLMSIGHT_JUDGE_API_KEY "
                "(or OPENAI_API_KEY), or LLMSIGHT_JUDGE_BASE_URL for a local OpenAI-compatible server"
            )
