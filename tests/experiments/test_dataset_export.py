"""``llmsight dataset export``: production calls, sent by the OpenTelemetry SDK to a real collector, judged
(rows written by the evaluator's own ``eval_row``/``write_rows``) and rated by people (``llmsight.feedback``
spans), come out as a dataset file that ``load_dataset`` reads back with what each call stored."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from typer.testing import CliRunner

from llmsight.cli.dataset import app as dataset_app
from llmsight.evaluator.judge import JudgeResult
from llmsight.evaluator.metrics import available_metrics
from llmsight.evaluator.worker import eval_row, write_rows
from llmsight.experiments.dataset import load_dataset
from llmsight.store.url import parse_store_url

cli = typer.Typer()
cli.add_typer(dataset_app, name="dataset")
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("cli_env")
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
MINUTE = 60


@dataclass
class Spec:
    """One LLM call as an app's instrumentation sends it; ``scores`` {metric: score or status}, ``feedback``
    [(value, by)] with by "span" or "response" (the call carries a gen_ai.response.id then)."""

    key: str
    age_s: float
    question: str = ""
    answer: str = ""
    context: list[str] | None = None  # llmsight.context.documents on the call
    retrieved: list[str] | None = None  # a retrieval span before the call in its trace
    ground_truth: str = ""
    service: str = "shop"
    environment: str = "prod"
    operation: str = "chat"
    scores: dict[str, int | str] = field(default_factory=dict)
    feedback: list[tuple[float, str]] = field(default_factory=list)
    trace_id: str = ""
    span_id: str = ""

    def __post_init__(self) -> None:
        self.question = self.question or f"question of {self.key}?"
        self.answer = self.answer or f"answer of {self.key}."


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _provider(endpoint: str, service: str, environment: str = "prod") -> TracerProvider:
    resource = Resource.create({"service.name": service, "deployment.environment.name": environment})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    return provider


def _send_call(endpoint: str, spec: Spec) -> None:
    provider = _provider(endpoint, spec.service, spec.environment)
    tracer = provider.get_tracer("shop-app")
    at = _ns(NOW - dt.timedelta(seconds=spec.age_s))
    root = tracer.start_span("handle request", start_time=at - 2_000_000_000)
    ctx = trace.set_span_in_context(root)
    if spec.retrieved is not None:
        docs = json.dumps([{"id": f"d{i}", "content": d} for i, d in enumerate(spec.retrieved)])
        retrieval = tracer.start_span("retrieval", ctx, attributes={"gen_ai.operation.name": "retrieval",
                                      "gen_ai.retrieval.documents": docs}, start_time=at - 1_000_000_000)  # fmt: skip
        retrieval.end(end_time=at - 900_000_000)
    inputs = [{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]}]
    if spec.question != "-":
        inputs.append({"role": "user", "parts": [{"type": "text", "content": spec.question}]})
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": spec.operation,
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": json.dumps(inputs),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": spec.answer}], "finish_reason": "stop"}]
        ),
        "gen_ai.response.id": f"chatcmpl-{spec.key}",
    }
    if spec.context is not None:
        attrs["llmsight.context.documents"] = json.dumps(spec.context)
    if spec.ground_truth:
        attrs["llmsight.ground_truth"] = spec.ground_truth
    span = tracer.start_span(f"{spec.operation} gpt-4o-mini", ctx, kind=SpanKind.CLIENT, attributes=attrs,
                             start_time=at)  # fmt: skip
    span.end(end_time=at + 500_000_000)
    root.end(end_time=at + 600_000_000)
    provider.shutdown()
    spec.trace_id = f"{span.get_span_context().trace_id:032x}"
    spec.span_id = f"{span.get_span_context().span_id:016x}"


def _send_feedback(endpoint: str, specs: list[Spec]) -> int:
    """Feedback spans as ``llmsight.feedback()`` sends them, from the web front end, minutes after each call."""
    provider = _provider(endpoint, "web-frontend")
    tracer = provider.get_tracer("web")
    sent = 0
    for spec in specs:
        for i, (value, by) in enumerate(spec.feedback):
            at = _ns(NOW - dt.timedelta(seconds=spec.age_s) + dt.timedelta(minutes=1 + i))
            named = {"llmsight.feedback.response_id": f"chatcmpl-{spec.key}"} if by == "response" else {
                "llmsight.feedback.trace_id": spec.trace_id, "llmsight.feedback.span_id": spec.span_id}  # fmt: skip
            span = tracer.start_span("llmsight.feedback", attributes={**named, "llmsight.feedback.score": value},
                                     start_time=at)  # fmt: skip
            span.end(end_time=at)
            sent += 1
    provider.shutdown()
    return sent


def _judge(client: Any, database: str, specs: list[Spec]) -> None:
    """Scores as the evaluator writes them: an int is a judge score, a string another status."""
    metrics = available_metrics()
    ids = [s.span_id for s in specs if s.scores]
    result = client.query(
        "SELECT Timestamp, TraceId, SpanId, ServiceName, Environment, Model FROM llm_calls "
        "WHERE SpanId IN {ids:Array(String)}",
        parameters={"ids": ids},
    )
    calls = {r["SpanId"]: r for r in result.named_results()}
    rows = []
    for spec in specs:
        for name, verdict in spec.scores.items():
            judged = JudgeResult("ok", score=verdict) if isinstance(verdict, int) else JudgeResult(verdict)
            rows.append(eval_row(calls[spec.span_id], metrics[name], "v1", "judge-x", judged))
    write_rows(client, database, rows)


def seed(collector: Any, client: Any, specs: list[Spec]) -> dict[str, Spec]:
    """Send the calls and their feedback, wait until the store has them all, then write the scores."""
    for spec in specs:
        _send_call(collector.endpoints.http, spec)
    feedback = _send_feedback(collector.endpoints.http, specs)
    collector.wait_until_stored()
    assert int(client.command("SELECT count() FROM llm_calls WHERE ServiceName != 'web-frontend'")) == len(specs)
    assert int(client.command("SELECT count() FROM feedback")) == feedback
    _judge(client, parse_store_url(collector.settings.clickhouse_url).database, specs)
    return {s.key: s for s in specs}


def shop() -> list[Spec]:
    """The scenario most tests export from (threshold 4 for groundedness and relevance)."""
    return [
        Spec(
            "ungrounded",
            10 * MINUTE,
            context=["Refunds within 30 days.", "Shipping is free."],
            ground_truth="30 days",
            scores={"groundedness": 2, "relevance": 5},
        ),
        Spec("offtopic", 20 * MINUTE, retrieved=["Opening hours 9-5."], scores={"groundedness": 4, "relevance": 3}),
        Spec("bad", 30 * MINUTE, scores={"groundedness": 1, "relevance": 2}, feedback=[(0.0, "span")]),
        Spec("good", 40 * MINUTE, scores={"groundedness": 5, "relevance": 5}, feedback=[(1.0, "span")]),
        Spec("disliked", 50 * MINUTE, scores={"groundedness": 5}, feedback=[(0.0, "response")]),
        Spec("forgiven", 60 * MINUTE, feedback=[(0.0, "span"), (1.0, "span")]),  # latest word: good
        Spec("unjudgeable", 70 * MINUTE, scores={"groundedness": "not_applicable", "relevance": "judge_error"}),
        Spec("admin", 80 * MINUTE, service="admin", scores={"groundedness": 3}),
        Spec("staging", 90 * MINUTE, environment="staging", scores={"relevance": 1}),
        Spec("silent", 100 * MINUTE, question="-", feedback=[(0.25, "span")]),  # no user message: no question
        Spec("embedding", 110 * MINUTE, operation="embeddings"),
        Spec("old", 3 * 86400, scores={"groundedness": 1}),
    ]


@pytest.fixture
def data(collector, store_client) -> dict[str, Spec]:
    return seed(collector, store_client, shop())


def export(store_url: str, out: Path, *args: str) -> Any:
    return runner.invoke(cli, ["dataset", "export", str(out), *args, "--clickhouse-url", store_url])


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def reason_counts(output: str) -> dict[str, int]:
    """{reason: rows} from the printed table's lines ("failing:groundedness: a groundedness score ...   3")."""
    found = (
        re.match(r"\s*((?:failing:\w+)|negative_feedback|recent): .*\s(\d+)\s*$", line) for line in output.splitlines()
    )
    return {m.group(1): int(m.group(2)) for m in found if m}


def picked(path: Path, data: dict[str, Spec]) -> list[tuple[str, list[str]]]:
    """(call key, reasons) per row, in file order."""
    keys = {s.span_id: k for k, s in data.items()}
    return [(keys[r["id"]], r["source"]["reasons"]) for r in rows_of(path)]


def test_failing_picks_calls_with_a_failing_score_and_metric_narrows_it(store_url, data, tmp_path):
    out = tmp_path / "failing.jsonl"
    result = export(store_url, out, "--failing", "--since", "1d")
    assert result.exit_code == 0, result.output
    assert picked(out, data) == [
        ("ungrounded", ["failing:groundedness"]),
        ("offtopic", ["failing:relevance"]),
        ("bad", ["failing:groundedness", "failing:relevance"]),
        ("admin", ["failing:groundedness"]),
        ("staging", ["failing:relevance"]),
    ]
    assert "Wrote 5 row(s)" in result.output
    assert reason_counts(result.output) == {"failing:groundedness": 3, "failing:relevance": 3}

    narrowed = tmp_path / "grounded.jsonl"
    assert export(store_url, narrowed, "--failing", "--metric", "groundedness", "--since", "1d").exit_code == 0
    assert picked(narrowed, data) == [
        ("ungrounded", ["failing:groundedness"]), ("bad", ["failing:groundedness"]), ("admin", ["failing:groundedness"])
    ]  # fmt: skip

    scoped = tmp_path / "scoped.jsonl"
    result = export(store_url, scoped, "--failing", "--service", "shop", "--environment", "prod", "--since", "7d")
    assert result.exit_code == 0, result.output
    assert [k for k, _ in picked(scoped, data)] == ["ungrounded", "offtopic", "bad", "old"]


def test_negative_feedback_picks_calls_rated_down_by_span_or_response_id(store_url, data, tmp_path):
    out = tmp_path / "disliked.jsonl"
    result = export(store_url, out, "--negative-feedback")
    assert result.exit_code == 0, result.output
    # "forgiven" was rated down, then up: its latest word counts; "silent" has no question to ask again
    assert picked(out, data) == [("bad", ["negative_feedback"]), ("disliked", ["negative_feedback"])]
    assert "skipped 1 call(s) with no question" in result.output


def test_both_flags_are_a_union_with_every_reason_and_counts(store_url, data, tmp_path):
    out = tmp_path / "both.jsonl"
    result = export(store_url, out, "--failing", "--negative-feedback", "--since", "1d")
    assert result.exit_code == 0, result.output
    assert picked(out, data) == [
        ("ungrounded", ["failing:groundedness"]),
        ("offtopic", ["failing:relevance"]),
        ("bad", ["failing:groundedness", "failing:relevance", "negative_feedback"]),
        ("disliked", ["negative_feedback"]),
        ("admin", ["failing:groundedness"]),
        ("staging", ["failing:relevance"]),
    ]
    assert reason_counts(result.output) == {"failing:groundedness": 3, "failing:relevance": 3, "negative_feedback": 2}
    assert "llmsight eval run" in result.output and "--target module:function --name both" in result.output


def test_without_flags_every_call_in_the_window_newest_first(store_url, data, tmp_path):
    out = tmp_path / "all.jsonl"
    result = export(store_url, out, "--since", "1d")
    assert result.exit_code == 0, result.output
    expected = ["ungrounded", "offtopic", "bad", "good", "disliked", "forgiven", "unjudgeable", "admin", "staging"]
    assert picked(out, data) == [(k, ["recent"]) for k in expected]  # no embeddings; "silent" skipped
    row = rows_of(out)[0]
    source = row["source"]
    assert source["trace_id"] == data["ungrounded"].trace_id and source["service"] == "shop"
    stored = dt.datetime.fromisoformat(source["timestamp"].replace("Z", "+00:00"))
    assert source["timestamp"].endswith("Z") and stored == NOW - dt.timedelta(seconds=data["ungrounded"].age_s)


def test_limit_keeps_the_newest_and_the_order_is_stable(store_url, collector, store_client, tmp_path):
    specs = [Spec(f"c{i}", 5 * MINUTE + i) for i in range(5)]
    specs += [Spec("tie-a", 2 * MINUTE), Spec("tie-b", 2 * MINUTE)]  # the same instant: span id decides
    data = seed(collector, store_client, specs)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    result = export(store_url, first, "--limit", "4")
    assert result.exit_code == 0, result.output
    ties = sorted(["tie-a", "tie-b"], key=lambda k: data[k].span_id)
    assert [k for k, _ in picked(first, data)] == [*ties, "c0", "c1"]
    assert "more calls matched than --limit" in result.output
    assert export(store_url, second, "--limit", "4").exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    every = tmp_path / "every.jsonl"
    result = export(store_url, every, "--limit", "7")
    assert result.exit_code == 0 and "more calls matched" not in result.output
    assert len(rows_of(every)) == 7


def test_rows_round_trip_through_load_dataset_as_jsonl_and_csv(store_url, data, tmp_path):
    jsonl, csv = tmp_path / "cases.jsonl", tmp_path / "cases.csv"
    for path in (jsonl, csv):
        result = export(store_url, path, "--failing", "--negative-feedback", "--service", "shop", "--since", "1d")
        assert result.exit_code == 0, result.output
    from_jsonl, from_csv = load_dataset(jsonl), load_dataset(csv)
    assert from_jsonl.hash == from_csv.hash and len(from_jsonl) == 5
    by_id = {row.id: row for row in from_jsonl.rows}
    for key in ("ungrounded", "offtopic", "bad", "disliked", "staging"):
        spec, row = data[key], by_id[data[key].span_id]
        assert (row.question, row.answer, row.ground_truth) == (spec.question, spec.answer, spec.ground_truth)
    assert by_id[data["ungrounded"].span_id].context == ("Refunds within 30 days.", "Shipping is free.")
    assert by_id[data["offtopic"].span_id].context == ("[d0] Opening hours 9-5.",)  # from the retrieval span
    assert by_id[data["bad"].span_id].context == ()
    for row in from_csv.rows:  # a CSV cell holds the source as JSON text, read back as the same object
        assert row.extra["source"] == by_id[row.id].extra["source"]


def test_an_existing_file_is_kept_without_force(store_url, data, tmp_path):
    out = tmp_path / "cases.jsonl"
    out.write_text("precious\n")
    result = export(store_url, out, "--failing")
    assert result.exit_code == 2 and "already exists" in result.output and "--force" in result.output
    assert out.read_text() == "precious\n"
    result = export(store_url, out, "--failing", "--force")
    assert result.exit_code == 0, result.output
    assert len(rows_of(out)) == 6 and not list(tmp_path.glob(".*partial*"))  # the default --since 7d: "old" too


def test_no_matching_call_is_exit_1_and_writes_nothing(store_url, data, tmp_path):
    out = tmp_path / "none.jsonl"
    result = export(store_url, out, "--failing", "--metric", "fluency")
    assert result.exit_code == 1 and "no calls matched --failing (fluency)" in result.output
    result = export(store_url, out, "--failing", "--service", "nobody")
    assert result.exit_code == 1 and "no calls matched --failing (service nobody) in the last 7d" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("x.jsonl", ["--metric", "groundedness"], "use it with --failing"),
        ("x.txt", ["--failing"], "unknown format .txt"),
        ("x.jsonl", ["--since", "a while"], "a while"),
        ("missing/x.jsonl", [], "is not a directory"),
    ],
)
def test_mistakes_are_one_red_line_exit_2(store_url, tmp_path, name, args, message):
    result = export(store_url, tmp_path / name, *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_help_shows_defaults_and_an_example():
    from tests.test_cli_help import option_help

    result = runner.invoke(cli, ["dataset", "export", "--help"])
    assert result.exit_code == 0 and "Example" in result.output and "llmsight eval run" in result.output
    options = option_help(result.output)
    assert "--clickhouse-url" in options and "[default: 200]" in options["--limit"]
    assert not {n: t for n, t in options.items() if n != "--help" and "[default:" not in t}


def test_reads_through_a_running_serve_that_owns_the_store(tmp_path):
    """With ``llmsight serve`` holding the embedded store (and judging with its evaluator), the export reads
    through serve's query endpoint: the same picks, parameters and all."""
    import time

    from llmsight.cli.common import query_client
    from llmsight.settings import Settings
    from tests.collector.serve_process import start_serve
    from tests.evaluator.fake_judge import FakeJudge, reply_json

    url = f"chdb://{tmp_path}/clickhouse"
    specs = [
        Spec("ungrounded", 10 * MINUTE, context=["Returns: 30 days."]),
        Spec("disliked", 20 * MINUTE, context=["Returns: 30 days."], feedback=[(0.0, "response")]),
        Spec("liked", 30 * MINUTE, context=["Returns: 30 days."], feedback=[(1.0, "span")]),
    ]
    with FakeJudge(default=reply_json(5)) as judge:
        judge.when("answer of ungrounded.", reply_json(2))
        env = {
            "LLMSIGHT_JUDGE_MODEL": "judge-x", "LLMSIGHT_JUDGE_BASE_URL": judge.base_url, "LLMSIGHT_JUDGE_API_KEY": "k",
            "LLMSIGHT_SAMPLE_RATE": "1", "LLMSIGHT_EVALUATOR_METRICS": "groundedness,relevance",
            "LLMSIGHT_EVALUATE_INTERVAL_S": "0.3",
        }  # fmt: skip
        serve = start_serve(tmp_path, env)
        try:
            for spec in specs:
                _send_call(serve.http, spec)
            _send_feedback(serve.http, specs)
            client = query_client(Settings(clickhouse_url=url))
            deadline = time.monotonic() + 60
            while (
                int(client.command("SELECT count() FROM feedback")) < 2
                or int(client.command("SELECT count() FROM evaluations FINAL WHERE Status = 'ok'")) < 6
            ):
                assert time.monotonic() < deadline, "the feedback and the judge's scores were not stored"
                time.sleep(0.05)
            out = tmp_path / "served.jsonl"
            args = ["--failing", "--metric", "groundedness", "--negative-feedback", "--clickhouse-url", url]
            result = runner.invoke(cli, ["dataset", "export", str(out), *args])
            assert result.exit_code == 0, result.output
            data = {s.key: s for s in specs}
            assert picked(out, data) == [("ungrounded", ["failing:groundedness"]), ("disliked", ["negative_feedback"])]
            assert rows_of(out)[1]["context"] == ["Returns: 30 days."]
            none = runner.invoke(cli, ["dataset", "export", str(tmp_path / "f.csv"), "--failing", "--metric", "fluency",
                                       "--clickhouse-url", url])  # fmt: skip
            assert none.exit_code == 1 and "no calls matched --failing (fluency)" in none.output
        finally:
            serve.stop()


def test_the_skipped_operations_are_the_evaluators():
    """dataset_calls lists them as literals (like sampled_calls); they must stay sampling.py's."""
    from llmsight.evaluator.sampling import SKIPPED_OPERATIONS
    from llmsight.queries import render

    listed = ", ".join(f"'{name}'" for name in SKIPPED_OPERATIONS)
    assert f"toString(Operation) NOT IN ({listed})" in render("dataset_calls")
