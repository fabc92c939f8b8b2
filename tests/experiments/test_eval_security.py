"""As an attacker with an ingest token: experiment spans cannot overwrite production scores, a tenant-bound token
(a page's or a tenant app's) or an app's token cannot forge runs, rows or scores (only an experiment token can send
them), and a report cannot carry markup into a PR."""

from __future__ import annotations

import datetime as dt
import time

import grpc
import httpx2 as httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import llmsight.experiments.telemetry as experiment_telemetry
from llmsight.collector.auth import EXPERIMENTS_ATTRIBUTE
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
    """What ``llmsight eval run`` sends: a score span, and with an experiment name its run and a row."""
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
    collector = collector_factory(ingest_tokens="app-token,acme-token=acme", experiment_tokens="op-token")
    db = parse_store_url(store_url).database
    production = {**score(PROD_SPAN, 5), "SpanTimestamp": dt.datetime.now(dt.timezone.utc)}
    write_rows(store_client, db, [production])  # what serve's evaluator wrote: a pass

    send(collector, "op-token", "", PROD_SPAN, 1)  # a score span that names no experiment
    # the reviewer's attack: an experiment's score span aimed at the production call, with its service, judge and
    # prompt version (the key production's score is stored under)
    send(collector, "op-token", "anything", PROD_SPAN, 1, service="shop")
    send(collector, "acme-token", "forged", ROW_SPAN, 1)  # a tenant-bound token: run, row and score (refused: 403)
    with pytest.MonkeyPatch.context() as patch:  # an app's token, its spans not claiming to be experiment data
        patch.setattr(experiment_telemetry, "EXPERIMENTS_ATTRIBUTE", "forger.unclaimed")
        send(collector, "app-token", "forged-by-app", ROW_SPAN, 1)
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
    assert rows == [("anything",), ("real",)]  # the tenant-bound and app tokens' runs, rows and scores: nowhere
    spans = int(store_client.command("SELECT count() FROM otel_traces WHERE SpanName LIKE 'llmsight.%'"))
    # the tenant's 3 spans claimed experiment data and were refused; the app's 3 were kept as telemetry, unfiled
    assert spans == 10


def claimed_request() -> bytes:
    """No spans, a resource claiming experiment data: what ``eval run`` checks a collector with."""
    request = ExportTraceServiceRequest()
    attribute = request.resource_spans.add().resource.attributes.add()
    attribute.key, attribute.value.string_value = EXPERIMENTS_ATTRIBUTE, "1"
    return request.SerializeToString()


def test_only_an_experiment_token_may_claim_experiment_data_over_http_and_grpc(collector_factory):
    collector = collector_factory(ingest_tokens="app-token,acme-token=acme,gw-token=*", experiment_tokens="ci-token")
    body, headers = claimed_request(), {"Content-Type": "application/x-protobuf"}

    def over_http(token: str) -> int:
        answer = httpx.post(f"{collector.endpoints.http}/v1/traces", content=body,
                            headers={**headers, "Authorization": f"Bearer {token}"})  # fmt: skip
        if answer.status_code == 403:
            assert "may not send experiment data" in answer.text, answer.text
        return answer.status_code

    def over_grpc(token: str) -> grpc.StatusCode:
        with grpc.insecure_channel(collector.endpoints.grpc.removeprefix("http://")) as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            try:
                export(body, metadata=[("authorization", f"Bearer {token}")], timeout=10)
            except grpc.RpcError as exc:
                return exc.code()
        return grpc.StatusCode.OK

    assert [over_http(t) for t in ("app-token", "acme-token", "ci-token", "gw-token")] == [403, 403, 200, 200]
    assert over_grpc("app-token") == grpc.StatusCode.PERMISSION_DENIED
    assert over_grpc("ci-token") == grpc.StatusCode.OK
    open_collector = collector_factory()  # no tokens at all: loopback use, everything passes as sent
    assert httpx.post(f"{open_collector.endpoints.http}/v1/traces", content=body, headers=headers).status_code == 200


def test_a_token_cannot_be_both_a_tenants_and_an_experiment_token():
    from llmsight.collector.auth import TokenAuth

    with pytest.raises(ValueError, match="operator"):
        TokenAuth("t=acme", "t")
    both = TokenAuth("op,other", "op")  # an operator token listed in both: it may send experiments
    assert both.experiment_token() == "op" and both.check("Bearer other").experiments is False


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
