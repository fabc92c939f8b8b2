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
    assert "no row could be judged (1 judge errors, 0 parse errors); last error:" in " ".join(result.output.split())


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
    scored = store_client.query("SELECT Status, Score FROM experiment_evaluations FINAL").result_rows
    assert scored == [("ok", 5)]


def test_an_app_that_answers_nothing_fails_those_rows_and_the_gate_says_incomplete(tmp_path, eval_env):
    mute = "def answer(id: str) -> str:\n    return '' if id == 'r1' else 'Pro costs $8.'\n"
    (eval_env / "mute_app.py").write_text(mute)
    path = dataset(tmp_path, *({"id": f"r{i}", "question": ONE_ROW["question"]} for i in range(3)))
    result = run(path, "mute", "--target", "mute_app:answer", "--metrics", "relevance")
    assert result.exit_code == 0 and "row r1: the target failed: TargetError: the target returned an empty answer" in (
        " ".join(result.output.split())
    )
    assert runner.invoke(app, ["eval", "gate", "mute"]).exit_code == 3


def test_rows_the_baseline_scored_but_the_new_app_no_longer_gives_inputs_for_fail_the_gate(tmp_path, eval_env):
    (eval_env / "with_context.py").write_text(
        "def answer(question: str) -> dict:\n    return {'answer': 'Pro costs $8.', 'context': ['Pro costs $8.']}\n"
    )
    (eval_env / "without_context.py").write_text("def answer(question: str) -> str:\n    return 'Pro costs $8.'\n")
    path = dataset(tmp_path, *({"id": f"r{i}", "question": ONE_ROW["question"]} for i in range(6)))
    for name in ("with_context", "without_context"):
        assert run(path, name, "--target", f"{name}:answer", "--metrics", "groundedness").exit_code == 0
    gated = runner.invoke(app, ["eval", "gate", "without_context", "--baseline", "with_context"])
    assert gated.exit_code == 1, gated.output
    assert "groundedness: 6 rows scored in with_context have no score now" in " ".join(gated.output.split())


class GarblingJudge(DemoModelServer):
    """A judge whose replies cannot be read until ``fixed`` is set."""

    fixed = False

    async def _chat(self, request: Request) -> Response:
        if not self.fixed:
            body = json.loads(await request.body())
            return JSONResponse({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                     "role": "assistant", "content": "I would rather not give a number."}}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})  # fmt: skip
        return await super()._chat(request)


def test_parse_errors_fail_the_run_and_a_rerun_judges_them_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMSIGHT_JUDGE_MAX_RETRIES", "0")
    path = dataset(tmp_path, ONE_ROW)
    with GarblingJudge() as judge:
        flags = ["--target", "worse_app:answer", "--metrics", "relevance", "--judge-base-url", judge.base_url]
        first = run(path, "garbled", *flags)
        assert first.exit_code == 1, first.output
        assert "no row could be judged (0 judge errors, 1 parse errors)" in " ".join(first.output.split())
        assert runner.invoke(app, ["eval", "gate", "garbled"]).exit_code == 3
        judge.fixed = True
        second = run(path, "garbled", *flags)
        assert second.exit_code == 0 and "judgements: 1 now" in second.output, second.output
    assert runner.invoke(app, ["eval", "gate", "garbled"]).exit_code == 0


def test_a_store_in_use_by_another_eval_run_is_refused_not_shared(tmp_path, store_url):
    from llmsight.collector.server import Collector
    from llmsight.settings import Settings

    settings = Settings(clickhouse_url=store_url, http_port=free_port(), grpc_port=free_port(), query_port=free_port(),
                        spool_dir=str(tmp_path / "spool-other"))  # fmt: skip
    other = Collector(settings, serve_file=settings.data_dir / "serve.json", owner="eval").start_in_thread()
    try:
        result = run(dataset(tmp_path, ONE_ROW), "second", "--target", "worse_app:answer")
    finally:
        other.stop_thread()
    assert result.exit_code == 2
    assert "is in use by `llmsight eval`" in " ".join(result.output.split())


def test_a_name_is_bound_to_its_service_and_a_changed_extra_column_is_another_dataset(tmp_path):
    path = dataset(tmp_path, {**ONE_ROW, "language": "en"})
    assert run(path, "svc", "--target", "worse_app:answer", "--metrics", "relevance").exit_code == 0
    other_service = run(path, "svc", "--target", "worse_app:answer", "--metrics", "relevance", "--service", "b")
    assert other_service.exit_code == 2 and "use the same --service" in other_service.output
    french = dataset(tmp_path, {**ONE_ROW, "language": "fr"})
    changed = run(french, "svc", "--target", "worse_app:answer", "--metrics", "relevance")
    assert changed.exit_code == 2 and "was made from other rows" in " ".join(changed.output.split())


def test_a_second_ctrl_c_stops_a_run_whose_target_hangs(tmp_path, cli_env):
    import os
    import signal
    import subprocess
    import sys
    import time

    hang = "import pathlib, time\n\ndef answer(question: str) -> str:\n"
    hang += "    pathlib.Path('called').touch()\n    time.sleep(600)\n"
    (tmp_path / "hang_app.py").write_text(hang)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMSIGHT_", "OPENAI_", "OTEL_"))}
    env |= {"LLMSIGHT_CLICKHOUSE_URL": f"chdb://{tmp_path}/store", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "llmsight.cli.main", "eval", "run", dataset(tmp_path, ONE_ROW), "--name", "hang",
         "--target", "hang_app:answer", "--judge-model", "demo-judge"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(3000):  # until the target is running (and hangs)
            if (tmp_path / "called").exists() or process.poll() is not None:
                break
            time.sleep(0.01)
        assert (tmp_path / "called").exists(), process.communicate()
        process.send_signal(signal.SIGINT)
        noted = ""
        while "Ctrl-C again stops now" not in noted and process.poll() is None:
            noted = process.stderr.readline()
        assert "interrupted: finishing what is in flight; Ctrl-C again stops now" in noted, noted
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "aborted; rows and judge calls in flight are lost" in err


def test_a_run_through_a_given_collector_and_one_that_refuses_it(tmp_path, collector_factory, store_client):
    path = dataset(tmp_path, ONE_ROW)
    collector = collector_factory()
    flags = ["--target", "worse_app:answer", "--metrics", "relevance", "--collector", collector.endpoints.http]
    through = run(path, "given", *flags)
    assert through.exit_code == 0 and f"via {collector.endpoints.http}" in through.output, through.output
    assert store_client.query("SELECT count() FROM experiment_evaluations FINAL").result_rows == [(1,)]
    guarded = collector_factory(ingest_tokens="their-token")  # this run has no token for it: refused before any row
    refused = run(path, "refused", *flags[:-1], guarded.endpoints.http)
    assert refused.exit_code == 2
    assert "answered HTTP 401 (set LLMSIGHT_INGEST_TOKENS to its token); nothing was run" in " ".join(
        refused.output.split()
    )
    assert store_client.query("SELECT count() FROM experiment_runs WHERE Experiment = 'refused'").result_rows == [(0,)]


def test_an_app_token_is_refused_for_experiments_and_an_experiment_token_runs(
    tmp_path, collector_factory, store_client, monkeypatch
):
    path = dataset(tmp_path, ONE_ROW)
    collector = collector_factory(ingest_tokens="app-token", experiment_tokens="ci-token")
    flags = ["--target", "worse_app:answer", "--metrics", "relevance", "--collector", collector.endpoints.http]
    monkeypatch.setenv("LLMSIGHT_INGEST_TOKENS", "app-token")
    refused = run(path, "app", *flags)
    assert refused.exit_code == 2, refused.output
    said = " ".join(refused.output.split())
    assert "answered HTTP 403 (this token may not send experiment data: set LLMSIGHT_EXPERIMENT_TOKENS" in said, said
    assert "nothing was run" in said
    monkeypatch.setenv("LLMSIGHT_EXPERIMENT_TOKENS", "ci-token")
    allowed = run(path, "ci", *flags)
    assert allowed.exit_code == 0, allowed.output
    assert store_client.query("SELECT Experiment FROM experiment_runs FINAL ORDER BY Experiment").result_rows == [
        ("ci",)
    ]


def test_a_run_on_its_own_collector_needs_no_experiment_token(tmp_path, store_client, monkeypatch):
    """Ingest tokens set for serve, none for experiments: the run's in-process collector takes the run's own."""
    monkeypatch.setenv("LLMSIGHT_INGEST_TOKENS", "app-token,acme-token=acme")
    result = run(dataset(tmp_path, ONE_ROW), "own", "--target", "worse_app:answer", "--metrics", "relevance")
    assert result.exit_code == 0, result.output
    assert "a collector in this process" in result.output
    assert store_client.query("SELECT count() FROM experiment_evaluations FINAL").result_rows == [(1,)]


def test_long_csv_cells_and_a_json_array_after_much_white_space_load(tmp_path):
    from llmsight.experiments.dataset import load_dataset

    document = "word " * 60_000  # 300 KB: past Python's default CSV cell limit of 128 KiB
    (tmp_path / "long.csv").write_text(f'id,question,context\nr1,What?,"{document}"\n')
    assert load_dataset(tmp_path / "long.csv").rows[0].context == (document,)
    (tmp_path / "spaced.json").write_text(" " * 200 + json.dumps([ONE_ROW]))
    assert [r.id for r in load_dataset(tmp_path / "spaced.json").rows] == ["pricing"]


def test_a_run_resumed_with_another_threshold_is_refused_so_its_pass_rate_is_one_threshold(tmp_path, store_client):
    def monitor_file(threshold: int) -> str:
        path = tmp_path / f"llmsight-{threshold}.yaml"
        path.write_text(
            "monitors:\n  - name: q\n    signals:\n      quality:\n        metrics:\n"
            f"          relevance: {{threshold: {threshold}}}\n"
        )
        return str(path)

    path = dataset(tmp_path, ONE_ROW)
    flags = ["--target", "worse_app:answer", "--metrics", "relevance"]
    first = run(path, "th", *flags, "--config", monitor_file(4))
    assert first.exit_code == 0, first.output
    assert store_client.query(
        "SELECT Threshold FROM experiment_evaluations FINAL WHERE Experiment = 'th'"
    ).result_rows == [(4.0,)]
    changed = run(path, "th", *flags, "--config", monitor_file(3))
    assert changed.exit_code == 2, changed.output
    said = " ".join(changed.output.split())
    assert "run 'th' judged relevance with threshold 4, this command with 3" in said, said
    assert run(path, "th", *flags, "--config", monitor_file(4)).exit_code == 0  # the same one finishes it
