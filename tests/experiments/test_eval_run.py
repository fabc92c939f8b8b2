"""``llmsight eval``: the demo app as the target on the shipped dataset, judged by the built-in judge, through
a real collector into the test's embedded store; a worse app is a regression, the same app again is not."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

from llmsight.cli.main import app
from llmsight.evaluator.metrics import DEFAULT_METRICS
from tests.experiments.conftest import DATASET

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("eval_env")
ROWS = sum(1 for line in DATASET.read_text().splitlines() if line.strip())
WITHOUT_GROUND_TRUTH = sum(1 for line in DATASET.read_text().splitlines() if line and "ground_truth" not in line)


def eval_run(name: str, target: str, *extra: str) -> str:
    result = runner.invoke(app, ["eval", "run", str(DATASET), "--name", name, "--target", target, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def compare(a: str, b: str, tmp_path) -> dict:
    out = tmp_path / f"{a}-{b}.json"
    result = runner.invoke(app, ["eval", "compare", a, b, "--json", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def verdicts(comparison: dict) -> dict[str, str]:
    return {m["metric"]: m["verdict"] for m in comparison["metrics"]}


def test_every_row_has_a_trace_and_scores_and_a_worse_app_is_a_regression(store_client, tmp_path):
    eval_run("main", "llmsight.demo.eval_target:answer")
    rows = store_client.query("SELECT RowId, TraceId, SpanId, Answer, Error FROM experiment_rows FINAL").result_rows
    assert len(rows) == ROWS and all(answer and not error for _, _, _, answer, error in rows)
    traces = [trace_id for _, trace_id, _, _, _ in rows]
    # each row's trace: the row span, its retrieval and its LLM call (with the retrieved documents as context)
    per_trace = store_client.query(
        "SELECT TraceId, groupArray(SpanName) FROM otel_traces WHERE TraceId IN %(t)s GROUP BY TraceId",
        parameters={"t": traces},
    ).result_rows
    assert len(per_trace) == ROWS
    for _, names in per_trace:
        assert {"llmsight.experiment.row", "retrieval demo-kb", "chat gpt-4o-mini"} <= set(names), names
    calls = store_client.query(
        "SELECT count(), countIf(ContextDocuments != ''), any(Environment), any(ServiceName) FROM llm_calls "
        "WHERE TraceId IN %(t)s",
        parameters={"t": traces},
    ).result_rows[0]
    assert calls == (ROWS, ROWS, "llmsight-eval", "llmsight-eval")  # the judge's own calls are not traced
    scores = store_client.query(
        "SELECT Metric, countIf(Status = 'ok'), countIf(Status = 'not_applicable'), count() "
        "FROM experiment_evaluations FINAL WHERE SpanId IN %(s)s GROUP BY Metric ORDER BY Metric",
        parameters={"s": [span_id for _, _, span_id, _, _ in rows]},
    ).result_rows
    expected = {m: (ROWS, 0, ROWS) for m in DEFAULT_METRICS}
    expected["similarity"] = (ROWS - WITHOUT_GROUND_TRUTH, WITHOUT_GROUND_TRUTH, ROWS)
    assert {m: (ok, na, n) for m, ok, na, n in scores} == expected

    # a row's trace reads like a call's: its scores on the row span, no bare score spans, the app's duration
    row_trace = runner.invoke(app, ["trace", traces[0]])
    assert row_trace.exit_code == 0, row_trace.output
    assert "llmsight.evaluation" not in row_trace.output
    assert all(f"{metric}: " in row_trace.output for metric in DEFAULT_METRICS)
    duration_ms = store_client.query(
        "SELECT DurationMs FROM experiment_rows FINAL WHERE TraceId = %(t)s", parameters={"t": traces[0]}
    ).result_rows[0][0]
    total_ms = float(row_trace.output.split(" spans, ")[1].split(" ms")[0].replace(",", ""))
    assert total_ms <= duration_ms + 1  # the judging, later, does not stretch the trace

    eval_run("worse", "worse_app:answer")
    eval_run("again", "llmsight.demo.eval_target:answer")
    worse = compare("main", "worse", tmp_path)
    assert verdicts(worse) == {m: "regression" if m == "groundedness" else "no change" for m in DEFAULT_METRICS}
    grounded = next(m for m in worse["metrics"] if m["metric"] == "groundedness")
    assert grounded["pairs"] == ROWS and grounded["ci"][1] < 0 and grounded["b"]["mean"] < grounded["a"]["mean"]
    assert worse["regressed_rows"] and all(r["change"] < 0 for r in worse["regressed_rows"])
    assert {r["trace_b"] for r in worse["regressed_rows"]} <= set(
        store_client.query("SELECT TraceId FROM experiment_rows FINAL WHERE Experiment = 'worse'").result_columns[0]
    )
    assert set(verdicts(compare("main", "again", tmp_path)).values()) == {"no change"}

    # the gate: a regression and a missed target fail (1); the same app passes (0); the reports say why
    junit, markdown, report = tmp_path / "eval.xml", tmp_path / "summary.md", tmp_path / "gate.json"
    failed = runner.invoke(
        app,
        ["eval", "gate", "worse", "--baseline", "main", "--junit", str(junit), "--markdown", str(markdown),
         "--json", str(report)],
    )  # fmt: skip
    assert failed.exit_code == 1, failed.output
    assert "groundedness vs main: regression" in failed.output and "gate failed" in failed.output
    gate = json.loads(report.read_text())
    assert gate["verdict"] == "failed" and gate["exit_code"] == 1
    missed = {(c["metric"], c["kind"]) for c in gate["checks"] if not c["ok"]}
    assert missed == {("groundedness", "pass_rate"), ("groundedness", "regression")}

    failing = set(
        store_client.query(
            "SELECT r.RowId FROM experiment_evaluations AS e FINAL "
            "JOIN experiment_rows AS r FINAL ON e.SpanId = r.SpanId "
            "WHERE r.Experiment = 'worse' AND e.Metric = 'groundedness' AND e.Passed = 0"
        ).result_columns[0]
    )
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    rows_suite = suites["worse: rows"]
    failed_cases = {
        c.get("name").split(":")[0]
        for c in rows_suite
        if c.get("classname") == "llmsight.rows.groundedness" and c.find("failure") is not None
    }
    assert failed_cases == failing and len(failing) > ROWS / 2
    assert int(rows_suite.get("tests")) == ROWS * len(DEFAULT_METRICS)
    assert int(rows_suite.get("skipped")) == WITHOUT_GROUND_TRUTH  # similarity without a reference
    assert int(suites["worse: targets"].get("failures")) == 2

    tokens = MarkdownIt("commonmark").enable("table").parse(markdown.read_text())
    cells = [t.content for t in tokens if t.type == "inline"]
    assert any(t.type == "table_open" for t in tokens)
    header = cells[cells.index("Metric") : cells.index("Metric") + 7]
    assert header == ["Metric", "Average", "Pass rate", "Target", "Baseline `main`", "Change [95% CI]", "Verdict"]
    assert all(metric in cells for metric in DEFAULT_METRICS) and "regression ❌" in cells

    listed = runner.invoke(app, ["eval", "runs"])
    worse_line = next(line for line in listed.output.splitlines() if "worse_app:answer" in line)
    assert f"groundedness {gate['metrics']['groundedness']['pass_rate']:.0%}" in worse_line  # the gate's figure

    same = runner.invoke(app, ["eval", "gate", "again", "--baseline", "main"])
    assert same.exit_code == 0, same.output
    strict = runner.invoke(app, ["eval", "gate", "again", "--fail-under", "groundedness=0.95"])
    assert strict.exit_code == 1 and "groundedness pass rate 82% < 95%" in strict.output


def test_a_row_the_target_fails_on_is_recorded_and_the_gate_says_incomplete(store_client, tmp_path):
    output = eval_run("flaky", "flaky_app:answer", "--metrics", "groundedness,relevance")
    assert "row refunds-03: the target failed: TimeoutError: the model did not answer in 30 s" in output
    row = store_client.query("SELECT Error FROM experiment_rows FINAL WHERE RowId = 'refunds-03'").result_rows
    assert row == [("TimeoutError: the model did not answer in 30 s",)]
    junit = tmp_path / "eval.xml"
    result = runner.invoke(app, ["eval", "gate", "flaky", "--junit", str(junit)])
    assert result.exit_code == 3, result.output
    assert "incomplete: 2 (row, metric) pairs without a judgement" in " ".join(result.output.split())
    errors = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("error") is not None]
    assert errors == ["refunds-03: Can I get a refund on my annual subscription?"] * 2


def test_reusing_a_name_with_another_target_or_dataset_is_refused(store_client, tmp_path):
    small = tmp_path / "small.jsonl"
    small.write_text(DATASET.read_text().splitlines()[0] + "\n")
    first = ["eval", "run", str(small), "--name", "small", "--metrics", "relevance"]
    assert runner.invoke(app, [*first, "--target", "llmsight.demo.eval_target:answer"]).exit_code == 0
    other = runner.invoke(app, [*first, "--target", "worse_app:answer"])
    assert other.exit_code == 2 and "run 'small' ran llmsight.demo.eval_target:answer" in other.output
    grown = runner.invoke(app, ["eval", "run", str(DATASET), "--name", "small", "--target", "worse_app:answer"])
    assert grown.exit_code == 2 and "run 'small' was made from other rows" in " ".join(grown.output.split())
    unknown = runner.invoke(app, ["eval", "compare", "small", "nope"])
    assert unknown.exit_code == 2 and "no experiment run named 'nope'; recent runs: small" in unknown.output
    bad = runner.invoke(app, ["eval", "gate", "small", "--fail-under", "relevance=80"])
    assert bad.exit_code == 2 and "use METRIC=RATE with RATE a pass rate from 0 to 1" in bad.output


def test_a_run_records_the_git_commit_it_ran_and_whether_the_tree_was_dirty(eval_env, store_client, tmp_path):
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=eval_env, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", "worse_app.py")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "app")
    head = git("rev-parse", "HEAD")
    small = tmp_path / "one.jsonl"
    small.write_text(DATASET.read_text().splitlines()[0] + "\n")
    for name in ("clean", "dirty"):
        if name == "dirty":
            (eval_env / "worse_app.py").write_text((eval_env / "worse_app.py").read_text() + "\n# changed\n")
        result = runner.invoke(
            app, ["eval", "run", str(small), "--name", name, "--target", "worse_app:answer", "--metrics", "relevance"]
        )
        assert result.exit_code == 0, result.output
    commits = dict(store_client.query("SELECT Experiment, GitCommit FROM experiment_runs FINAL").result_rows)
    assert commits == {"clean": head, "dirty": f"{head}+dirty"}


def test_an_async_target_returning_its_context_is_judged_on_that_context(store_client):
    output = eval_run("async", "async_app:answer", "--metrics", "groundedness", "--concurrency", "4")
    assert "0 failed in the target" in output
    rows = store_client.query("SELECT Answer, Context, TraceId FROM experiment_rows FINAL ORDER BY RowId").result_rows
    assert len(rows) == ROWS and all(context.startswith('["') and answer for answer, context, _ in rows)
    # the coroutine's spans are children of its row's span: each trace holds its retrieval and its LLM call
    traces = store_client.query(
        "SELECT TraceId, countIf(SpanName = 'retrieval kb'), countIf(SpanName = 'chat gpt-4o-mini') FROM otel_traces "
        "WHERE TraceId IN %(t)s GROUP BY TraceId",
        parameters={"t": [t for _, _, t in rows]},
    ).result_rows
    assert sorted(n for _, *n in traces) == [[1, 1]] * ROWS
    grounded = store_client.query(
        "SELECT countIf(Score = 5), count() FROM experiment_evaluations FINAL WHERE Metric = 'groundedness'"
    ).result_rows
    assert grounded == [(ROWS, ROWS)]  # the first sentence of the context it returned: fully supported
