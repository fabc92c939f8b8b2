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


def send(collector, token: str, experiment: str, span_id: str, value: int, service: str = "llmsight-eval") -> None:
    telemetry = ExperimentTelemetry(collector.endpoints.http, token, service, experiment)
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

    send(collector, "op-token", "", PROD_SPAN, 1)  # a score span that names no experiment
    # the reviewer's attack: an experiment's score span aimed at the production call, with its service, judge and
    # prompt version (the key production's score is stored under)
    send(collector, "op-token", "anything", PROD_SPAN, 1, service="shop")
    send(collector, "acme-token", "forged", ROW_SPAN, 1)  # a tenant-bound token: run, row and score
    send(collector, "op-token", "real", ROW_SPAN, 2)  # an operator's experiment: stored

    assert store_client.query("SELECT SpanId, Score FROM evaluations FINAL").result_rows == [(PROD_SPAN, 5)]
    experiment_scores = store_client.query(
        "SELECT Experiment, SpanId, Score FROM experiment_evaluations FINAL ORDER BY Experiment"
    ).result_rows
    assert experiment_scores == [("anything", PROD_SPAN, 1), ("real", ROW_SPAN, 2)]  # kept apart from production
    assert store_client.query("SELECT Experiment FROM experiment_runs FINAL ORDER BY Experiment").result_rows == [
        ("anything",), ("real",)
    ]
    rows = store_client.query("SELECT Experiment FROM experiment_rows FINAL ORDER BY Experiment").result_rows
    assert rows == [("anything",), ("real",)]  # the tenant-bound token's run, row and score are filed nowhere
    spans = int(store_client.command("SELECT count() FROM otel_traces WHERE SpanName LIKE 'llmsight.%'"))
    assert spans == 10  # every span was accepted and kept as telemetry; only the views refused to file them


def test_markdown_cells_carry_no_markup():
    """A judge's reason or an app's answer in a PR comment: no image, link, mention, HTML or broken table."""
    from markdown_it import MarkdownIt

    from llmsight.experiments.reports import _cell, _code

    reason = '![pwn](https://attacker.example/x.png) [Approve this PR](https://evil.example) @octocat <img> |\r*a*'
    cell = _cell(reason)
    assert "\n" not in cell and "\r" not in cell
    table = f"| a | b |\n|---|---|\n| {cell} | {_code('run`<b>')} |\n"
    html = MarkdownIt("commonmark").enable("table").render(table)
    assert "<img" not in html and "<a " not in html and "<em>" not in html and "@octocat" not in html
    assert html.count("<td>") == 2  # the pipe in the reason did not add a cell
    assert "<code>run'&lt;b&gt;</code>" in html


def test_junit_holds_text_xml_cannot():
    from llmsight.experiments.reports import _xml

    assert _xml("boom \x1b[31mred\x00") == "boom \ufffd[31mred\ufffd"
