"""What goes wrong in an experiment is one clear line and the right exit code, with nothing lost and nothing
gated unfairly: a judge that refuses the key or is down, a target that cannot be called, a name reused with
other metrics, a baseline judged differently. And the dataset's own context is the judge's last resort."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from typer.testing import CliRunner

from llmsight.cli.main import app
from llmsight.demo.model import DemoModelServer
from tests.conftest import free_port

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("eval_env")
ONE_ROW = {"id": "pricing", "question": "How much does the Pro plan cost?"}


class RefusingJudge(DemoModelServer):
    """Answers the app; refuses every judge request with 401, as OpenAI does for a bad key."""

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if body.get("model") == "strict-judge":
            return JSONResponse({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}, 401)
        return await super()._chat(request)


def dataset(tmp_path, *rows: dict) -> str:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def run(path: str, name: str, *extra: str):
    return runner.invoke(app, ["eval", "run", path, "--name", name, *extra])


def test_a_judge_that_refuses_the_key_ends_the_run_readably_and_keeps_the_answers(tmp_path, store_client):
    with RefusingJudge() as judge:
        result = run(dataset(tmp_path, ONE_ROW), "refused", "--target", "worse_app:answer",
                     "--judge-model", "strict-judge", "--judge-base-url", judge.base_url)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "what was done is stored" in result.output and "Traceback" not in result.output
    assert store_client.query("SELECT RowId, Error FROM experiment_rows FINAL").result_rows == [("pricing", "")]


def test_a_judge_that_is_down_fails_the_run_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMSIGHT_JUDGE_MAX_RETRIES", "0")
    result = run(dataset(tmp_path, ONE_ROW), "down", "--target", "worse_app:answer", "--metrics", "relevance",
                 "--judge-model", "gpt-4o-mini", "--judge-base-url", f"http://127.0.0.1:{free_port()}/v1")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "no row could be judged (1 judge errors); last error:" in " ".join(result.output.split())


def test_a_target_parameter_no_column_fills_is_an_error_before_anything_runs(tmp_path, eval_env, store_client):
    (eval_env / "typo_app.py").write_text("def answer(questoin: str) -> str:\n    return questoin\n")
    result = run(dataset(tmp_path, ONE_ROW), "typo", "--target", "typo_app:answer")
    assert result.exit_code == 2
    assert "row 'pricing': the target's parameter 'questoin' is not a dataset column" in " ".join(
        result.output.split()
    )
    assert int(store_client.command("SELECT count() FROM experiment_runs")) == 0  # the name is still free


def test_a_run_is_finished_with_the_metrics_it_was_made_for(tmp_path):
    path = dataset(tmp_path, ONE_ROW)
    assert run(path, "bound", "--target", "worse_app:answer", "--metrics", "groundedness,relevance").exit_code == 0
    fewer = run(path, "bound", "--target", "worse_app:answer", "--metrics", "relevance")
    assert fewer.exit_code == 2 and "finish it with the same --metrics" in " ".join(fewer.output.split())


def test_a_baseline_judged_by_another_judge_cannot_gate(tmp_path):
    path = dataset(tmp_path, *({"id": f"r{i}", "question": ONE_ROW["question"]} for i in range(5)))
    assert run(path, "one-judge", "--target", "worse_app:answer", "--metrics", "relevance").exit_code == 0
    with DemoModelServer() as other:
        assert run(path, "other-judge", "--target", "worse_app:answer", "--metrics", "relevance",
                   "--judge-model", "another-judge", "--judge-base-url", other.base_url).exit_code == 0  # fmt: skip
    compared = runner.invoke(app, ["eval", "compare", "one-judge", "other-judge"])
    assert compared.exit_code == 0 and "not comparable: one-judge was judged by demo-judge" in compared.output
    gated = runner.invoke(app, ["eval", "gate", "other-judge", "--baseline", "one-judge"])
    assert gated.exit_code == 2 and "they were judged differently" in gated.output


def test_the_datasets_context_is_judged_when_the_target_returns_and_traces_none(tmp_path, eval_env, store_client):
    (eval_env / "plain_app.py").write_text("def answer(question: str) -> str:\n    return 'Pro costs $8 a month.'\n")
    row = {**ONE_ROW, "context": ["Pro costs $8 a month, billed annually."]}
    result = run(dataset(tmp_path, row), "plain", "--target", "plain_app:answer", "--metrics", "groundedness")
    assert result.exit_code == 0, result.output
    scored = store_client.query("SELECT Status, Score FROM evaluations FINAL WHERE Metric = 'groundedness'").result_rows
    assert scored == [("ok", 5)]
