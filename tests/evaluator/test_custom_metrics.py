"""A metric of one's own, end to end: a rubric file in --rubrics-dir, judged by the scripted judge over HTTP
through the real openai client, stored in evaluations, shown by `report` and by the quality dashboard's SQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmsight.cli.evaluate import evaluate, report

from .fake_judge import reply_json, reply_verdict, user_text
from .spans import Call, insert_calls

app = typer.Typer()
app.command("evaluate")(evaluate)
app.command("report")(report)

CITES = """---
metric: cites_sources
version: 3
description: Does every claim in the answer come from a retrieved document?
inputs: [answer, context]
threshold: 3
---
5: every claim names the document it comes from. 1: no claim does.
"""

TONE = """---
metric: tone
version: 1
inputs: [question, answer]
scale: binary
categories: [curt, insult]
---
Fail an answer that is curt with or insults the person asking.
"""


pytestmark = pytest.mark.usefixtures("cli_env")


@pytest.fixture
def rubrics(tmp_path: Path) -> Path:
    (tmp_path / "cites_sources.md").write_text(CITES)
    (tmp_path / "tone.md").write_text(TONE)
    return tmp_path


def script(request):
    """The judge: fail TONE (insult) on the rude answer, score CITES_SOURCES 2 where asked."""
    text = user_text(request)
    if "for TONE" in text:
        rude = "you fool" in text
        return reply_verdict("fail" if rude else "pass", "insult" if rude else "none", "rude" if rude else "kind")(
            request
        )
    return reply_json(2, "one claim has no source")(request)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_custom_rubric_is_judged_stored_reported_and_on_the_dashboard(
    store_url, store_client, database, judge_server, rubrics
):
    judge_server.default = script
    with_docs = Call(answer="Paris, says doc 1. And you fool, look it up.", context=["doc 1: Paris is the capital"])
    without_docs = Call(answer="It is Paris, glad to help.")
    insert_calls(store_client, [with_docs, without_docs])

    result = run("evaluate", "--once", "--sample-rate", "1", "--metrics", "cites_sources,tone",
                 "--rubrics-dir", str(rubrics), "--judge-model", "judge-x", "--judge-base-url",
                 judge_server.base_url, "--clickhouse-url", store_url)
    assert result.exit_code == 0, result.output

    rows = store_client.query(
        "SELECT SpanId, Metric, Scale, Status, Score, Threshold, Passed, Category, PromptVersion, Reason "
        "FROM evaluations FINAL ORDER BY SpanId, Metric"
    ).named_results()
    rows = list(rows)
    got = {(r["SpanId"], r["Metric"]): r for r in rows}
    cited, rude = got[(with_docs.span_id, "cites_sources")], got[(with_docs.span_id, "tone")]
    assert (cited["Scale"], cited["Status"], cited["Score"], cited["Threshold"], cited["Passed"]) == (
        "1-5", "ok", 2, 3.0, 0)
    assert cited["PromptVersion"].startswith("v3-")  # the rubric's own version
    assert (rude["Scale"], rude["Score"], rude["Threshold"], rude["Passed"], rude["Category"]) == (
        "binary", 0, 1.0, 0, "insult")
    kind = got[(without_docs.span_id, "tone")]
    assert (kind["Score"], kind["Passed"], kind["Category"]) == (1, 1, "")
    missing = got[(without_docs.span_id, "cites_sources")]
    assert (missing["Status"], missing["Reason"]) == ("not_applicable", "missing input: context")
    assert len(rows) == 4
    # the judge saw what each rubric declares: tone never gets the retrieved documents
    tone_prompts = [user_text(r) for r in judge_server.requests if "for TONE" in user_text(r)]
    assert len(tone_prompts) == 2 and not any("doc 1: Paris" in t for t in tone_prompts)

    data = json.loads(run("report", "--last", "1h", "--format", "json", "--clickhouse-url", store_url).output)
    metrics = {m["metric"]: m for m in data["metrics"]}
    assert metrics["tone"]["scale"] == "binary" and metrics["tone"]["pass_rate"] == 0.5
    assert metrics["tone"]["categories"] == {"insult": 1}
    assert (metrics["cites_sources"]["scored"], metrics["cites_sources"]["not_applicable"]) == (1, 1)
    assert {(w["metric"], w["score"], w["category"]) for w in data["worst"]} == {
        ("tone", 0, "insult"), ("cites_sources", 2, "")}
    table = run("report", "--last", "1h", "--clickhouse-url", store_url).output
    assert "pass/fail" in table and "tone: insult 1" in table and "fail (insult)" in table

    assert _dashboard(store_client, database, "Failing pass/fail checks by category") == [
        ("cites_sources", "(none named)", 1), ("tone", "insult", 1)]
    per_metric = _dashboard(store_client, database, "Per metric")
    assert {(r[0], r[2], r[3]) for r in per_metric} == {("cites_sources", "1-5", 1), ("tone", "binary", 2)}


def _dashboard(client, database: str, title: str) -> list[tuple]:
    """A quality panel's SQL as Grafana would send it (last hour, every variable All), run on this store."""
    from grafana.conftest import load_dashboards
    from grafana.macros import ALL, Context, expand

    (panel,) = [p for p in load_dashboards()["quality.json"]["panels"] if p["title"] == title]
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ctx = Context(time_from=now - dt.timedelta(hours=1), time_to=now + dt.timedelta(minutes=1), interval_s=600,
                  variables={"service": ALL, "model": ALL, "environment": ALL, "metric": ALL},
                  options={"service": ["shop"], "model": ["gpt-4o-mini"], "environment": [""],
                           "metric": ["cites_sources", "tone"]}, database=database)
    return [tuple(r) for r in client.query(expand(panel["targets"][0]["rawSql"], ctx)).result_rows]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nmetric: tone\nversion: 1\ninputs: [answer, mood]\n---\nx", "unknown input 'mood'"),
        ("---\nmetric: tone\nversion: 1\ninputs: [answer]\nscale: 1-10\n---\nx", "scale"),
        ("metric: tone\nno front matter here", "a new metric needs 'name: tone'"),
        ("---\nname: tone\nversion: one two\ninputs: [answer]\n---\nx", "not a short label"),
    ],
)
def test_a_broken_rubric_is_a_clear_error_before_any_judging(store_url, judge_server, tmp_path, text, message):
    (tmp_path / "tone.md").write_text(text)
    result = run("evaluate", "--once", "--metrics", "tone", "--rubrics-dir", str(tmp_path), "--judge-model", "m",
                 "--judge-base-url", judge_server.base_url, "--clickhouse-url", store_url)
    assert result.exit_code == 2, result.output
    assert message in result.output and "tone.md" in result.output and "Traceback" not in result.output
    assert judge_server.requests == []
