"""As an attacker with an ingest token: experiment spans cannot overwrite production scores, a tenant-bound token
(a page's or a tenant app's) cannot forge runs, rows or scores, and a report cannot carry markup into a PR."""

from __future__ import annotations

import datetime as dt
import time

from llmsight.evaluator.judge import JudgeResult
from llmsight.evaluator.metrics import METRICS
from llmsight.evaluator.worker import eval_row, write_rows
from llmsight.experiments.telemetry import ExperimentTelemetry
from llmsight.store.url import parse_store_url

TRACE, ROW_SPAN, PROD_SPAN = "ab" * 16, "cd" * 8, "ef" * 8


def score(span_id: str, value: int) -> dict:
    call = {"Timestamp": None, "TraceId": TRACE, "SpanId": span_id, "ServiceName": "shop", "Model": "m"}
    return eval_row(call, METRICS["groundedness"], "v1", "gpt-4o-mini", JudgeResult("ok", score=value, reason="r"))


def send(collector, token: str, experiment: str, span_id: str, value: int) -> None:
    telemetry = ExperimentTelemetry(collector.endpoints.http, token, "llmsight-eval", experiment)
    try:
        telemetry.evaluation(TRACE, span_id, time.time_ns(), score(span_id, value))
        if experiment:
            telemetry.run({"llmsight.dataset.hash": "h"})
            with telemetry.row("r1", "h", "q?", "") as span:
                telemetry.answered(span, "a", ())
        assert telemetry.flush()
    finally:
        telemetry.close()
    collector.wait_until_stored()


def test_experiment_spans_cannot_overwrite_production_scores_nor_come_from_a_tenant_token(
    collector_factory, store_url, store_client
):
    collector = collector_factory(ingest_tokens="op-token,acme-token=acme")
    db = parse_store_url(store_url).database
    production = {**score(PROD_SPAN, 5), "SpanTimestamp": dt.datetime.now(dt.timezone.utc)}
    write_rows(store_client, db, [production])  # what serve's evaluator wrote: a pass

    send(collector, "op-token", "", PROD_SPAN, 1)  # a score span that names no experiment: a forged production score
    send(collector, "acme-token", "forged", ROW_SPAN, 1)  # a tenant-bound token: run, row and score
    send(collector, "op-token", "real", ROW_SPAN, 2)  # an operator's experiment: stored

    scores = store_client.query("SELECT SpanId, Score FROM evaluations FINAL ORDER BY SpanId").result_rows
    assert scores == [(ROW_SPAN, 2), (PROD_SPAN, 5)]
    assert store_client.query("SELECT Experiment FROM experiment_runs FINAL").result_rows == [("real",)]
    assert store_client.query("SELECT Experiment FROM experiment_rows FINAL").result_rows == [("real",)]
    spans = int(store_client.command("SELECT count() FROM otel_traces WHERE SpanName LIKE 'llmsight.%'"))
    assert spans == 7  # every span was accepted and kept as telemetry; only the views refused to file them


def test_markdown_cells_carry_no_markup():
    from llmsight.experiments.reports import _cell, _code

    cell = _cell('<img src=x onerror="alert(1)"> | `code`\nnext')
    assert cell == "&lt;img src=x onerror=\"alert(1)\"&gt; \\| 'code' next"
    assert _code("run`<b>") == "`run'&lt;b&gt;`"
