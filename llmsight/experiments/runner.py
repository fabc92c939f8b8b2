"""``llmsight eval run``: each dataset row through the target (or its given answer), then the judge.

Resumable by name: rows with a stored answer are not run again and (row, metric) pairs with a final
score are not judged again, so an interrupted or failed run is finished by running the same command.
A name belongs to one dataset, target and judge; reusing it with another is an error, so a
comparison never mixes two setups under one name.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from llmsight.evaluator.judge import Judge, JudgeFatalError
from llmsight.evaluator.metrics import Metric
from llmsight.evaluator.pool import Aborted, run_bounded
from llmsight.evaluator.rubric import Rubric
from llmsight.experiments import judging, target
from llmsight.experiments.connection import Connection
from llmsight.experiments.dataset import Dataset, DatasetRow
from llmsight.experiments.telemetry import ExperimentTelemetry
from llmsight.queries.questions import lookup

Progress = Callable[[str, int, int], None]  # (phase, done, total); phase "interrupted": a first Ctrl-C
# A (row, metric) with one of these is not judged again. Unlike production's evaluator, a parse error is
# retried: an experiment is for a complete set of figures, and the gate calls one with errors incomplete.
DONE_STATUSES = ("ok", "not_applicable")


class ExperimentError(ValueError):
    """The run cannot go on as asked; the message says why and what to do."""


@dataclass(frozen=True)
class RunSpec:
    name: str
    dataset: Dataset
    target: str  # module:function, or "" to judge the dataset's own answers
    metrics: list[Metric]
    rubrics: dict[str, Rubric]
    versions: dict[str, str]  # metric -> prompt version
    judge: Judge
    service: str
    concurrency: int = 4
    git_commit: str = ""


@dataclass
class RunOutcome:
    rows: int = 0
    answered_now: int = 0
    answered_before: int = 0
    target_errors: list[tuple[str, str]] = field(default_factory=list)  # (row id, error)
    judge: judging.JudgeTally = field(default_factory=judging.JudgeTally)
    interrupted: bool = False
    elapsed_s: float = 0.0
    sent_rows: dict[str, str] = field(default_factory=dict)  # row id -> the row span sent this run


def git_commit() -> str:
    """HEAD of the working directory's repository, ``+dirty`` when it has changes; "" outside one."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def check_same_setup(previous: dict[str, Any] | None, spec: RunSpec) -> None:
    if previous is None:
        return
    name = spec.name
    if previous["dataset_hash"] != spec.dataset.hash:
        raise ExperimentError(
            f"run {name!r} was made from other rows (dataset {previous['dataset_path']}, hash "
            f"{previous['dataset_hash']}; this file's is {spec.dataset.hash}). Name this run differently."
        )
    if previous["target"] != spec.target:
        was = previous["target"] or "the dataset's own answers"
        raise ExperimentError(f"run {name!r} ran {was}, not {spec.target or 'the dataset answers'}; use another --name")
    if sorted(previous["metrics"]) != sorted(m.name for m in spec.metrics):
        raise ExperimentError(
            f"run {name!r} is judged on {', '.join(previous['metrics'])}; finish it with the same --metrics, "
            "or use another --name (a gate must not check fewer metrics than the run was made for)"
        )
    if previous["service"] != spec.service:
        raise ExperimentError(f"run {name!r} was sent as service {previous['service']!r}; use the same --service")
    if previous["judge_model"] != spec.judge.model:
        raise ExperimentError(
            f"run {name!r} was judged by {previous['judge_model']}, not {spec.judge.model}; use the same judge "
            "to finish it, or another --name"
        )


def check_same_thresholds(scores: list[dict[str, Any]], spec: RunSpec) -> None:
    """A resumed run judges its new rows with the thresholds its stored scores were judged with.

    Otherwise one run's pass rate mixes two thresholds (the monitor file changed in between) and
    a gate reads it as one."""
    wanted = {m.name: m.threshold for m in spec.metrics}
    for score in scores:
        metric = score["metric"]
        if score["status"] == "ok" and metric in wanted and abs(score["threshold"] - wanted[metric]) > 1e-9:
            raise ExperimentError(
                f"run {spec.name!r} judged {metric} with threshold {score['threshold']:g}, this command with "
                f"{wanted[metric]:g} (has the monitor file changed?); finish it with the same threshold, "
                "or use another --name"
            )


def _run_row(func: Any, row: DatasetRow, spec: RunSpec, telemetry: ExperimentTelemetry) -> tuple[str, str, str]:
    """Run the target on one row inside the row's span; returns (row id, row span id, error or "")."""
    started = time.perf_counter()
    with telemetry.row(row.id, spec.dataset.hash, row.question, row.ground_truth) as span:
        span_id = f"{span.get_span_context().span_id:016x}"
        try:
            if func is None:
                out = target.TargetOutput(row.answer, row.context)
            else:
                out = target.output(target.call(func, row))
            if not out.answer.strip():  # judged "not applicable", an app that answers nothing would pass the gate
                raise target.TargetError("the target returned an empty answer")
            telemetry.answered(span, out.answer, out.context)
            return row.id, span_id, ""
        except (Exception, SystemExit) as exc:  # the app's failure is this row's result, not the run's end
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            telemetry.failed(span, error)
            return row.id, span_id, error
        finally:
            span.set_attribute("llmsight.experiment.duration_ms", (time.perf_counter() - started) * 1000)


def _run_targets(
    func: Any, rows: list[DatasetRow], spec: RunSpec, telemetry: ExperimentTelemetry, outcome: RunOutcome,
    progress: Progress,
) -> None:  # fmt: skip
    done = 0

    def finished(row: DatasetRow, future: Future[tuple[str, str, str]]) -> str:
        nonlocal done
        row_id, span_id, error = future.result()  # _run_row records the app's failures; this never raises
        outcome.sent_rows[row_id] = span_id
        done += 1
        if error:
            outcome.target_errors.append((row_id, error))
        else:
            outcome.answered_now += 1
        progress("answering", done, len(rows))
        return ""

    run_bounded(
        rows, lambda row: _run_row(func, row, spec, telemetry), finished, concurrency=spec.concurrency,
        on_interrupt=lambda: progress("interrupted", 0, 0), thread_name="llmsight-eval-target",
    )  # fmt: skip


def _stored_rows(conn: Connection, name: str) -> dict[str, dict[str, Any]]:
    return {r["row_id"]: r for r in lookup(conn.client, conn.database, "experiment_rows", experiment=name)}


def _done_scores(conn: Connection, spec: RunSpec) -> list[dict[str, Any]]:
    return lookup(
        conn.client, conn.database, "experiment_scores", experiment=spec.name, judge_model=spec.judge.model,
        metrics=[m.name for m in spec.metrics], versions=[spec.versions[m.name] for m in spec.metrics],
    )  # fmt: skip


def run_experiment(
    spec: RunSpec, conn: Connection, progress: Progress = lambda phase, done, total: None, timeout_s: float = 120.0
) -> RunOutcome:
    """Run, judge and store the experiment; raises KeyboardInterrupt after saving what was done."""
    started = time.monotonic()
    outcome = RunOutcome(rows=len(spec.dataset))
    previous = lookup(conn.client, conn.database, "experiment_runs", experiment=spec.name, limit=1)
    check_same_setup(previous[0] if previous else None, spec)
    if previous:
        check_same_thresholds(_done_scores(conn, spec), spec)
    func = target.load_target(spec.target) if spec.target else None
    if func is not None:
        target.check_arguments(func, spec.dataset.rows)
    stored = _stored_rows(conn, spec.name)
    todo = [r for r in spec.dataset.rows if r.id not in stored or stored[r.id]["error"]]
    outcome.answered_before = len(spec.dataset) - len(todo)
    telemetry = ExperimentTelemetry(conn.otlp_endpoint, conn.token, spec.service, spec.name)
    fatal: JudgeFatalError | None = None
    try:
        telemetry.run(
            {
                "llmsight.dataset.path": str(spec.dataset.path),
                "llmsight.dataset.hash": spec.dataset.hash,
                "llmsight.dataset.rows": len(spec.dataset),
                "llmsight.experiment.target": spec.target,
                "llmsight.experiment.git_commit": spec.git_commit,
                "llmsight.experiment.judge_model": spec.judge.model,
                "llmsight.experiment.metrics": ",".join(m.name for m in spec.metrics),
                "llmsight.experiment.rubric_versions": json.dumps(spec.versions, sort_keys=True),
            }
        )
        if func is not None:
            telemetry.instrument()
        try:
            _run_targets(func, todo, spec, telemetry, outcome, progress)
            telemetry.uninstrument()
            _settle(conn, telemetry, lambda: _answers_stored(conn, spec, outcome.sent_rows), timeout_s, "answers")
            rows = [r for r in _stored_rows(conn, spec.name).values() if not r["error"]]
            done = {(s["row_id"], s["metric"]) for s in _done_scores(conn, spec) if s["status"] in DONE_STATUSES}
            outcome.judge.judged_before = len(done)
            need_trace = [r for r in rows if not judging.stored_context(r)]
            from_trace = judging.trace_context(conn.client, conn.database, need_trace) if need_trace else {}
            given = {r.id: r.context for r in spec.dataset.rows}  # the dataset's context: the last resort
            contexts = {
                r["row_id"]: judging.stored_context(r) or from_trace.get(r["row_id"], ()) or given.get(r["row_id"], ())
                for r in rows
            }
            tasks, skipped = judging.plan(rows, contexts, spec.metrics, spec.rubrics, done)
            progress("judging", 0, len(tasks))
            judging.judge_rows(
                tasks, skipped, judge=spec.judge, versions=spec.versions, telemetry=telemetry,
                concurrency=spec.concurrency, tally=outcome.judge,
                progress=lambda n: progress("judging", n, len(tasks)),
                on_interrupt=lambda: progress("interrupted", 0, 0),
            )  # fmt: skip
        except Aborted:
            raise  # a second Ctrl-C: no waiting for the store either; the collector still stores what it took
        except KeyboardInterrupt:
            outcome.interrupted = True
        except JudgeFatalError as exc:  # the judge refused the key or model: keep what was judged, then say so
            fatal = exc
        sent = outcome.judge.sent_scores
        _settle(conn, telemetry, lambda: _scores_stored(conn, spec, sent), timeout_s, f"{len(sent)} scores")
    finally:
        telemetry.close()
    if fatal is not None:
        raise fatal
    outcome.elapsed_s = time.monotonic() - started
    if outcome.interrupted:
        raise KeyboardInterrupt
    return outcome


def _settle(
    conn: Connection, telemetry: ExperimentTelemetry, stored: Callable[[], bool], timeout: float, what: str
) -> None:
    """Flush what was sent and wait until the store has it: the next step (or run) reads it back."""
    telemetry.flush()
    if not conn.wait_stored(stored, timeout):
        lost = f" ({telemetry.dropped} spans could not be sent)" if telemetry.dropped else ""
        raise ExperimentError(
            f"the {what} sent to the collector ({conn.via}) were not stored within {timeout:g}s{lost}"
        )


def _answers_stored(conn: Connection, spec: RunSpec, sent: dict[str, str]) -> bool:
    """Every row sent this run is stored as that row's current attempt."""
    if not sent:
        return True
    stored = _stored_rows(conn, spec.name)
    return all(row_id in stored and stored[row_id]["span_id"] == span_id for row_id, span_id in sent.items())


def _scores_stored(conn: Connection, spec: RunSpec, sent: dict[tuple[str, str], str]) -> bool:
    """Every score sent this run is stored: a final one as final (a rerun must not judge it again)."""
    if not sent:
        return True
    stored = {(s["row_id"], s["metric"]): s["status"] for s in _done_scores(conn, spec)}
    return all(
        key in stored and (status not in DONE_STATUSES or stored[key] in DONE_STATUSES) for key, status in sent.items()
    )
