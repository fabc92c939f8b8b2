"""The demo end to end on the test's store: what it stores, what it judges, what the command prints."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from llmsight.cli.main import app
from llmsight.demo.knowledge import DOCUMENTS
from llmsight.demo.runner import SERVICE_NAME, choose_judge, run_demo

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("LLMSIGHT_", "OPENAI_", "OTEL_")):
            monkeypatch.delenv(name)


def test_run_demo_stores_calls_retrievals_context_and_scores(store_url, store_client, tmp_path):
    serve_file = tmp_path / "serve.json"
    seen: dict = {}

    def started(endpoints: dict) -> None:  # while it runs, other processes can find its query endpoint
        seen.update(json.loads(serve_file.read_text()), endpoints=endpoints)

    result = run_demo(store_url, requests=40, judge="demo", progress=False, serve_file=serve_file, on_started=started)
    assert seen["query_url"] == seen["endpoints"]["query"] and seen["pid"] == os.getpid()
    assert not serve_file.exists()  # removed when the demo ended, so later commands open the store directly

    assert result.requests == 40 and result.succeeded + result.failed == 40
    assert result.failed > 0 and sum(result.outcomes.values()) == 40
    calls = store_client.query(
        "SELECT count(), countIf(IsError), countIf(StatusCode != 'Error' AND ContextDocuments != ''), "
        "countIf(Stream), countIf(SessionId != '' AND UserId != ''), sum(InputTokens), sum(Cost) "
        "FROM llm_calls WHERE ServiceName = %(s)s",
        parameters={"s": SERVICE_NAME},
    ).result_rows[0]
    count, errors, with_context, streamed, with_user, input_tokens, cost = calls
    assert count == result.calls_stored == 40
    assert errors == result.failed
    assert with_context == result.succeeded
    assert streamed >= result.streamed > 0
    assert with_user == 40 and input_tokens > 40 * 100 and cost > 0
    retrievals = store_client.query(
        "SELECT count(), countIf(SpanAttributes['gen_ai.retrieval.documents'] != '') FROM otel_traces "
        "WHERE ServiceName = %(s)s AND SpanName = 'retrieval demo-kb'",
        parameters={"s": SERVICE_NAME},
    ).result_rows[0]
    assert retrievals == (40, 40)
    # the pre-screen flags nothing in the demo's ordinary traffic (false positives: zero expected)
    assert int(store_client.command(f"SELECT count() FROM call_screens WHERE ServiceName = '{SERVICE_NAME}'")) == 0
    # Every answered call carries the documents retrieved for it, each a knowledge-base text. (This used to pick
    # one call with LIMIT 1 and look for "Lumen", which six of the eleven documents do not contain.)
    stored = store_client.query(
        "SELECT ContextDocuments FROM llm_calls WHERE ServiceName = %(s)s AND NOT IsError ORDER BY Timestamp, SpanId",
        parameters={"s": SERVICE_NAME},
    ).result_rows
    assert len(stored) == result.succeeded
    known = {doc.text for doc in DOCUMENTS}
    for (raw,) in stored:
        docs = json.loads(raw)
        assert 1 <= len(docs) <= 3 and set(docs) <= known, docs

    scores = dict(
        (status, (n, passed))
        for status, n, passed in store_client.query(
            "SELECT toString(Status), count(), countIf(Passed = 1) FROM evaluations FINAL "
            "WHERE ServiceName = %(s)s GROUP BY Status",
            parameters={"s": SERVICE_NAME},
        ).result_rows
    )
    ok, passed = scores["ok"]
    assert ok == result.scored and passed == result.passed
    assert 0.5 * ok < passed < ok  # mostly good answers, and real failing answers
    assert set(scores) <= {"ok", "not_applicable"}
    failing = dict(
        store_client.query(
            "SELECT toString(Metric), countIf(Passed = 0) FROM evaluations FINAL WHERE Status = 'ok' GROUP BY Metric"
        ).result_rows
    )
    assert failing["groundedness"] > 0 and failing["relevance"] > 0
    assert result.failing_trace_id
    trace_spans = store_client.command(f"SELECT count() FROM otel_traces WHERE TraceId = '{result.failing_trace_id}'")
    assert int(trace_spans) == 3  # answer question > retrieval + chat
    # the default monitor ran over the demo's window, and its pass rates are the scores' own
    run = result.monitor_run
    pass_rates = {r.metric: r.value for r in run.results if r.statistic == "pass_rate" and r.sample_count}
    assert set(pass_rates) >= {"groundedness", "relevance", "coherence", "fluency"}
    stored = dict(store_client.query(
        "SELECT toString(Metric), countIf(Passed = 1) / count() FROM evaluations FINAL "
        "WHERE Status = 'ok' GROUP BY Metric").result_rows)  # fmt: skip
    assert pass_rates == pytest.approx({m: stored[m] for m in pass_rates})
    assert {r.state for r in run.results} <= {"ok", "violation", "insufficient_data"}


def test_demo_command_prints_summary_report_trace_and_next_steps(store_url, store_client, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    result = runner.invoke(app, ["demo", "--requests", "25", "--judge", "demo", "--clickhouse-url", store_url])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "What happened" in out and "25 questions to demo-rag-app" in out
    assert "Quality, last" in out and "groundedness" in out and "Calls, last" in out
    assert "The default monitor over this window" in out and "pass_rate" in out
    assert "One request whose answer failed a check" in out
    assert "answer question" in out and "retrieval demo-kb" in out and "groundedness: " in out
    assert "Next steps" in out and "llmsight serve" in out and "--clickhouse-url" in out
    assert int(store_client.command("SELECT count() FROM llm_calls")) == 25


def test_store_owned_by_a_running_serve_is_refused(tmp_path):
    store = tmp_path / "clickhouse"
    (tmp_path / "serve.json").write_text(
        json.dumps({"pid": os.getpid(), "store_path": str(store), "query_url": "http://127.0.0.1:1"})
    )
    result = runner.invoke(app, ["demo", "--clickhouse-url", f"chdb://{store}"])
    assert result.exit_code == 2
    assert "running `llmsight serve`" in result.output and "Traceback" not in result.output
    assert not store.exists()  # refused before opening anything


def test_judge_choice_follows_keys_and_flags():
    assert choose_judge("auto", {}).demo
    real = choose_judge("auto", {"OPENAI_API_KEY": "sk-x"})
    assert (real.demo, real.model, real.api_key) == (False, "gpt-4o-mini", "sk-x")
    local = choose_judge("auto", {"LLMSIGHT_JUDGE_BASE_URL": "http://h/v1", "LLMSIGHT_JUDGE_MODEL": "qwen"})
    assert (local.demo, local.model, local.base_url) == (False, "qwen", "http://h/v1")
    assert choose_judge("demo", {"OPENAI_API_KEY": "sk-x"}).demo
