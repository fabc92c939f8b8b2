"""Run the evaluator: sample calls, judge them with bounded concurrency, write ``evaluations`` rows.

Rows are written in small batches as results arrive, so a crash or a fatal judge error loses at
most one batch of work and never double-counts (``evaluations`` is a ReplacingMergeTree keyed by
span, metric, judge model and prompt version, and sampling skips what is already final).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from clickhouse_connect.driver.client import Client

from llmsight.evaluator.config import EvaluatorConfig
from llmsight.evaluator.inputs import build_inputs
from llmsight.evaluator.judge import HourlyCap, Judge, JudgeFatalError, JudgeResult, is_reasoning_model, judge_cost
from llmsight.evaluator.metrics import SAFETY_METRICS, Metric, available_metrics, parse_metrics
from llmsight.evaluator.pool import judge_concurrently
from llmsight.evaluator.prompt import build_messages, template_version
from llmsight.evaluator.rubric import Rubric, load_rubric
from llmsight.evaluator.sampling import retrieval_documents, select_candidates

log = logging.getLogger("llmsight.evaluator")

EVAL_COLUMNS = [
    "SpanTimestamp",
    "TraceId",
    "SpanId",
    "ServiceName",
    "Environment",
    "Model",
    "Metric",
    "Scale",
    "Score",
    "WeightedScore",
    "Threshold",
    "Passed",
    "Status",
    "Reason",
    "Category",
    "JudgeModel",
    "PromptVersion",
    "JudgeInputTokens",
    "JudgeOutputTokens",
    "JudgeCost",
    "JudgeLatencyMs",
]
WRITE_BATCH = 20
EST_OUTPUT_TOKENS = 120
EST_OUTPUT_TOKENS_REASONING = 1000


@dataclass
class Task:
    row: dict[str, Any]
    metric: Metric
    prompt_version: str
    messages: list[dict]


@dataclass
class RunSummary:
    candidates: int = 0  # sampled calls with work left
    planned: int = 0  # judge calls planned
    scored: int = 0
    passed: int = 0
    not_applicable: int = 0
    parse_errors: int = 0
    judge_errors: int = 0
    deferred: int = 0  # planned calls left for a later run (hourly cap, circuit breaker, fatal error)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    estimated: bool = False  # True for --dry-run: tokens and cost are estimates, nothing was written
    stopped: str = ""  # why the run ended early, if it did
    by_metric: dict[str, dict[str, int]] = field(default_factory=dict)
    last_error: str = ""  # the last judge_error's reason, or the fatal error that ended the run

    @property
    def written(self) -> int:
        return self.scored + self.not_applicable + self.parse_errors + self.judge_errors

    @property
    def judge_failed(self) -> bool:
        """The run asked the judge and got no judgement back: the judge is down or misconfigured.

        A parse_error counts as a judgement (the judge answered). not_applicable rows never reach
        the judge, so they say nothing about it; a run the hourly cap stopped before any call has
        no error and is not a failure either (the judge was never asked).
        """
        return (
            not self.estimated and self.planned > 0 and self.scored + self.parse_errors == 0 and bool(self.last_error)
        )


# The hourly cap must outlive one run: serve calls run_evaluator_once every minute.
_CAPS: dict[int, HourlyCap] = {}
_CAPS_LOCK = threading.Lock()


def process_cap(limit: int) -> HourlyCap:
    with _CAPS_LOCK:
        if limit not in _CAPS:
            _CAPS[limit] = HourlyCap(limit)
        return _CAPS[limit]


def make_judge(cfg: EvaluatorConfig) -> Judge:
    cfg.require_judge()
    return Judge(
        cfg.judge_model,
        cfg.judge_base_url or None,
        cfg.judge_api_key or None,
        timeout_s=cfg.timeout_s,
        max_retries=cfg.max_retries,
        backoff_s=cfg.backoff_s,
        max_backoff_s=cfg.max_backoff_s,
        score_mode=cfg.score_mode,
    )


def load_rubrics(metrics: list[Metric], rubrics_dir: str = "") -> dict[str, Rubric]:
    return {m.name: load_rubric(m.name, rubrics_dir or None) for m in metrics}


def _with_thresholds(metrics: list[Metric], thresholds: dict[str, float]) -> list[Metric]:
    """A monitor's per-call thresholds (stored with each score); a binary metric's stays 1 (pass)."""
    return [m if m.binary else replace(m, threshold=thresholds.get(m.name, m.threshold)) for m in metrics]


def safety_metrics(configured: list[Metric], rubrics_dir: str = "") -> list[Metric]:
    """The safety metrics a flagged call is judged with beyond the configured ones."""
    names = {m.name for m in configured}
    known = available_metrics(rubrics_dir or None)
    return [known[name] for name in SAFETY_METRICS if name not in names and name in known]


def plan(client: Client, database: str, cfg: EvaluatorConfig) -> tuple[list[Task], list[dict[str, Any]], int]:
    """(judge tasks, not_applicable rows, candidate count) for this run; reads only.

    A call row carrying pre-screen hits (``ScreenHits``) is judged with the safety metrics too, whatever
    the configured list, so a flagged injection or leak gets a judge's verdict.
    """
    metrics = _with_thresholds(parse_metrics(list(cfg.metrics), cfg.rubrics_dir or None), dict(cfg.thresholds))
    extra = safety_metrics(metrics, cfg.rubrics_dir)
    rubrics = load_rubrics(metrics + extra, cfg.rubrics_dir)
    versions = {m.name: rubrics[m.name].prompt_version(template_version(m)) for m in metrics + extra}
    candidates = select_candidates(
        client,
        database,
        judge_model=cfg.judge_model,
        plans=[(m.name, versions[m.name]) for m in metrics],
        sample_rate=cfg.sample_rate,
        since_s=cfg.since_s,
        service=cfg.service,
        environment=cfg.environment,
        model=cfg.model,
        limit=cfg.max_spans_per_run,
        shard=cfg.shard_tuple(),
        screen_plans=[(m.name, versions[m.name]) for m in extra],
    )
    needs_context = any("context" in m.requires + m.optional for m in metrics + extra)
    retrieved = retrieval_documents(client, database, candidates) if needs_context else {}
    tasks: list[Task] = []
    skipped: list[dict[str, Any]] = []
    for row in candidates:
        inputs = build_inputs(row, retrieved.get(row["SpanId"], []))
        for metric in metrics + (extra if row.get("ScreenHits") else []):
            if metric.name in row["_done"]:
                continue
            missing = inputs.missing(metric.requires)
            if missing:
                skipped.append(
                    eval_row(
                        row,
                        metric,
                        versions[metric.name],
                        cfg.judge_model,
                        JudgeResult("not_applicable", reason=f"missing input: {', '.join(missing)}"),
                    )
                )
                continue
            messages = build_messages(metric, rubrics[metric.name], inputs)
            tasks.append(Task(row, metric, versions[metric.name], messages))
    return tasks, skipped, len(candidates)


def eval_row(
    row: dict[str, Any], metric: Metric, prompt_version: str, judge_model: str, result: JudgeResult
) -> dict[str, Any]:
    ok = result.status == "ok" and result.score is not None
    return {
        "SpanTimestamp": row["Timestamp"],
        "TraceId": row["TraceId"],
        "SpanId": row["SpanId"],
        "ServiceName": row.get("ServiceName", ""),
        "Environment": row.get("Environment", ""),
        "Model": row.get("Model", ""),
        "Metric": metric.name,
        "Scale": metric.scale,
        "Score": result.score if ok else None,
        "WeightedScore": result.weighted if ok else None,
        "Threshold": float(metric.threshold),
        "Passed": (1 if result.score >= metric.threshold else 0) if ok else None,
        "Status": result.status,
        "Reason": result.reason[:4000],
        "Category": result.category if ok else "",
        "JudgeModel": judge_model,
        "PromptVersion": prompt_version,
        "JudgeInputTokens": result.input_tokens,
        "JudgeOutputTokens": result.output_tokens,
        "JudgeCost": judge_cost(judge_model, result.input_tokens, result.output_tokens) if judge_model else 0.0,
        "JudgeLatencyMs": result.latency_ms,
    }


def write_rows(client: Client, database: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        client.insert(
            f"`{database}`.evaluations", [[r[c] for c in EVAL_COLUMNS] for r in rows], column_names=EVAL_COLUMNS
        )


def emit_event(row: dict[str, Any], tracer: Any = None) -> None:
    """Publish a score as a ``gen_ai.evaluation.result`` span event in the judged call's trace.

    Only when the process has an OpenTelemetry SDK tracer provider; without one this is a no-op,
    so the evaluator never needs OpenTelemetry configured.
    """
    try:
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
    except ImportError:
        return
    if tracer is None:
        provider = trace.get_tracer_provider()
        if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
            return
        tracer = trace.get_tracer("llmsight.evaluator")
    try:
        parent = SpanContext(
            int(row["TraceId"], 16), int(row["SpanId"], 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
    except (ValueError, TypeError):
        return
    ctx = trace.set_span_in_context(NonRecordingSpan(parent))
    with tracer.start_as_current_span(f"evaluation {row['Metric']}", context=ctx) as span:
        span.add_event(
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": row["Metric"],
                "gen_ai.evaluation.score.value": float(row["Score"]),
                "gen_ai.evaluation.score.label": "pass" if row["Passed"] else "fail",
                "gen_ai.evaluation.explanation": row["Reason"][:1000],
            },
        )


def estimate(tasks: list[Task], judge_model: str) -> tuple[int, int, float]:
    """Rough (input tokens, output tokens, cost) for --dry-run: 4 characters a token."""
    tokens_in = sum(sum(len(m["content"]) for m in t.messages) // 4 + 8 for t in tasks)
    per_call = EST_OUTPUT_TOKENS_REASONING if is_reasoning_model(judge_model) else EST_OUTPUT_TOKENS
    tokens_out = per_call * len(tasks)
    return tokens_in, tokens_out, judge_cost(judge_model, tokens_in, tokens_out) if judge_model else 0.0


def _count(summary: RunSummary, row: dict[str, Any]) -> None:
    status = row["Status"]
    per = summary.by_metric.setdefault(row["Metric"], {})
    per[status] = per.get(status, 0) + 1
    if status == "ok":
        summary.scored += 1
        summary.passed += int(row["Passed"] or 0)
    elif status == "not_applicable":
        summary.not_applicable += 1
    elif status == "parse_error":
        summary.parse_errors += 1
    else:
        summary.judge_errors += 1
        summary.last_error = row["Reason"]
    summary.input_tokens += row["JudgeInputTokens"]
    summary.output_tokens += row["JudgeOutputTokens"]
    summary.cost += row["JudgeCost"]


def run_once(
    cfg: EvaluatorConfig,
    client: Client,
    database: str,
    *,
    judge: Judge | None = None,
    cap: HourlyCap | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """One evaluation pass. Raises ``JudgeFatalError`` (after saving finished work) on 401/403/404."""
    tasks, skipped, n_candidates = plan(client, database, cfg)
    summary = RunSummary(candidates=n_candidates, planned=len(tasks))
    if dry_run:
        summary.estimated = True
        summary.not_applicable = len(skipped)
        summary.input_tokens, summary.output_tokens, summary.cost = estimate(tasks, cfg.judge_model)
        return summary
    judge = judge or make_judge(cfg)
    cap = cap or process_cap(cfg.max_calls_per_hour)
    buffer: list[dict[str, Any]] = []

    def record(row: dict[str, Any]) -> None:
        buffer.append(row)
        _count(summary, row)
        if row["Status"] == "ok" and cfg.emit_events:
            try:
                emit_event(row)
            except Exception:  # telemetry about telemetry must never break the run
                log.debug("could not emit evaluation event", exc_info=True)
        if len(buffer) >= WRITE_BATCH:
            write_rows(client, database, buffer)
            buffer.clear()

    for row in skipped:
        record(row)
    total = len(tasks)
    done = 0
    if progress:
        progress(0, total)

    def capped() -> str:
        return "" if cap.try_acquire() else f"hourly judge-call cap of {cap.limit} reached"

    def judged(task: Task, result: JudgeResult) -> None:
        nonlocal done
        record(eval_row(task.row, task.metric, task.prompt_version, judge.model, result))
        done += 1
        if progress:
            progress(done, total)

    fatal: JudgeFatalError | None = None
    try:
        summary.stopped = judge_concurrently(
            tasks,
            lambda t: judge.score(t.messages, t.metric.scale, t.metric.categories),
            judged,
            concurrency=cfg.concurrency,
            may_submit=capped,
        )
    except JudgeFatalError as exc:
        fatal = exc
    finally:
        write_rows(client, database, buffer)  # what was judged is kept, Ctrl-C included
    summary.deferred = total - done
    if fatal is not None:
        summary.stopped = summary.last_error = str(fatal)
        fatal.summary = summary  # what was done before it, for a caller that records runs (serve's JudgeHealth)
        raise fatal
    return summary


def run_evaluator_once(settings_or_config: Any, store_url: str | None = None) -> RunSummary:
    """Entry point for ``serve``'s scheduler: one pass using its settings, in its own process.

    ``settings_or_config`` is a ``llmsight.settings.Settings`` or an ``EvaluatorConfig``;
    ``store_url`` defaults to ``settings.clickhouse_url`` (required with an EvaluatorConfig).
    Opens its own client (chDB clients in one process share the engine), so it is safe to call
    from a background thread of the process that owns the embedded store. Raises
    ``EvaluatorConfigError`` when no judge is configured and ``JudgeFatalError`` on 401/403/404.
    """
    from llmsight.store.client import open_client
    from llmsight.store.url import parse_store_url

    if isinstance(settings_or_config, EvaluatorConfig):
        cfg = settings_or_config
        if store_url is None:
            raise ValueError("store_url is required when passing an EvaluatorConfig")
    else:
        cfg = EvaluatorConfig.from_settings(settings_or_config)
        store_url = store_url or settings_or_config.clickhouse_url
    cfg.require_judge()
    store = parse_store_url(store_url)
    client = open_client(store)
    try:
        summary = run_once(cfg, client, store.database)
    finally:
        client.close()
    if summary.planned or summary.not_applicable:
        log.info(
            "evaluator: %d scored (%d passed), %d not applicable, %d parse errors, %d judge errors, "
            "%d deferred, $%.4f%s",
            summary.scored,
            summary.passed,
            summary.not_applicable,
            summary.parse_errors,
            summary.judge_errors,
            summary.deferred,
            summary.cost,
            f"; stopped: {summary.stopped}" if summary.stopped else "",
        )
    return summary
