"""Judge an experiment's rows: the production evaluator's rubrics, judge and thresholds, one score span each.

What is already judged (by this run's judge and prompt versions, with a final status) is skipped, so
a rerun after an interruption judges only what is missing. Scores are sent as soon as they arrive,
so an interrupted run keeps every judgement it paid for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmsight.evaluator.inputs import EvalInputs, build_inputs
from llmsight.evaluator.judge import Judge, JudgeFatalError, JudgeResult
from llmsight.evaluator.metrics import Metric
from llmsight.evaluator.pool import judge_concurrently
from llmsight.evaluator.prompt import build_messages
from llmsight.evaluator.rubric import Rubric
from llmsight.evaluator.sampling import retrieval_documents
from llmsight.evaluator.worker import eval_row
from llmsight.experiments.telemetry import ExperimentTelemetry
from llmsight.queries.questions import lookup
from llmsight.store.event_content import fill_from_events

TRACE_BATCH = 500


@dataclass
class JudgeTally:
    judged_now: int = 0
    judged_before: int = 0
    not_applicable: int = 0
    parse_errors: int = 0
    judge_errors: int = 0
    cost: float = 0.0
    stopped: str = ""
    last_error: str = ""
    sent_scores: dict[tuple[str, str], str] = field(default_factory=dict)  # (row id, metric) -> status sent
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    row: dict[str, Any]  # an experiment_rows row
    metric: Metric
    messages: list[dict]


def trace_context(client: Any, database: str, rows: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Context documents the app recorded in each row's trace (its last LLM call's), by row id."""
    out: dict[str, tuple[str, ...]] = {}
    for start in range(0, len(rows), TRACE_BATCH):
        batch = rows[start : start + TRACE_BATCH]
        calls = lookup(
            client,
            database,
            "experiment_trace_calls",
            traces=[r["trace_id"] for r in batch],
            since_ns=min(int(r["time_ns"]) for r in batch) - 60 * 10**9,
        )
        calls = fill_from_events(client, database, calls)
        retrieved = retrieval_documents(client, database, calls)
        last: dict[str, dict[str, Any]] = {}
        for call in calls:  # oldest first: the last one wins
            last[call["TraceId"]] = call
        for row in batch:
            call = last.get(row["trace_id"])
            if call is not None:
                out[row["row_id"]] = tuple(build_inputs(call, retrieved.get(call["SpanId"], [])).context)
    return out


def inputs_for(row: dict[str, Any], context: tuple[str, ...]) -> EvalInputs:
    return EvalInputs(
        question=row["question"], answer=row["answer"], context=list(context), ground_truth=row["ground_truth"]
    )


def stored_context(row: dict[str, Any]) -> tuple[str, ...]:
    try:
        docs = json.loads(row["context"]) if row["context"] else []
    except ValueError:
        return ()
    return tuple(str(d) for d in docs if str(d).strip()) if isinstance(docs, list) else ()


def plan(
    rows: list[dict[str, Any]],
    contexts: dict[str, tuple[str, ...]],
    metrics: list[Metric],
    rubrics: dict[str, Rubric],
    done: set[tuple[str, str]],
) -> tuple[list[Task], list[tuple[dict[str, Any], Metric, str]]]:
    """(judge tasks, (row, metric, missing inputs) to record as not_applicable) for what is not done."""
    tasks: list[Task] = []
    skipped: list[tuple[dict[str, Any], Metric, str]] = []
    for row in rows:
        inputs = inputs_for(row, contexts.get(row["row_id"], ()))
        for metric in metrics:
            if (row["row_id"], metric.name) in done:
                continue
            missing = inputs.missing(metric.requires)
            if missing:
                skipped.append((row, metric, ", ".join(missing)))
            else:
                tasks.append(Task(row, metric, build_messages(metric, rubrics[metric.name], inputs)))
    return tasks, skipped


def judge_rows(
    tasks: list[Task],
    skipped: list[tuple[dict[str, Any], Metric, str]],
    *,
    judge: Judge,
    versions: dict[str, str],
    telemetry: ExperimentTelemetry,
    concurrency: int,
    tally: JudgeTally,
    progress: Callable[[int], None] | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> None:
    """Judge ``tasks`` and send every result as it comes; Ctrl-C and a fatal judge error are raised after the
    calls in flight are sent (``evaluator.pool``)."""

    def send(row: dict[str, Any], metric: Metric, result: JudgeResult) -> None:
        call = {"Timestamp": None, "TraceId": row["trace_id"], "SpanId": row["span_id"], "Model": ""}
        scored = eval_row(call, metric, versions[metric.name], judge.model, result)
        end_ns = int(row["time_ns"]) + int(float(row["duration_ms"]) * 1e6)
        telemetry.evaluation(row["trace_id"], row["span_id"], int(row["time_ns"]), scored, at_ns=end_ns)
        tally.sent_scores[(row["row_id"], metric.name)] = result.status
        tally.cost += scored["JudgeCost"]
        tally.by_status[result.status] = tally.by_status.get(result.status, 0) + 1
        if result.status == "not_applicable":
            tally.not_applicable += 1
        elif result.status == "parse_error":
            tally.parse_errors += 1
            tally.last_error = f"the judge's reply could not be read: {result.reason}"
        elif result.status == "judge_error":
            tally.judge_errors += 1
            tally.last_error = result.reason
        if result.status == "ok":
            tally.judged_now += 1

    for row, metric, missing in skipped:
        send(row, metric, JudgeResult("not_applicable", reason=f"missing input: {missing}"))
    done = 0

    def judged(task: Task, result: JudgeResult) -> None:
        nonlocal done
        send(task.row, task.metric, result)
        done += 1
        if progress:
            progress(done)

    try:
        tally.stopped = judge_concurrently(
            tasks,
            lambda t: judge.score(t.messages, t.metric.scale, t.metric.categories),
            judged,
            concurrency=concurrency,
            thread_name="llmsight-eval-judge",
            on_interrupt=on_interrupt,
        )
    except JudgeFatalError as exc:
        tally.stopped = tally.last_error = str(exc)
        raise
