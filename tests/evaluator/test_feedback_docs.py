"""Every example of docs/evaluator.md's "User feedback" section, run as written against a real collector
configured as the section's `serve` command says (CORS origin, an app token and a tenant-bound page token):
the Python calls, the review job, the backend, the page's fetch() (Node), the curl command, and the JSON
body they post. Only the collector's address (and, for the backend's page, the session) is swapped in."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from llmsight.evaluator.report import build_report
from tests.conftest import free_port
from tests.fake_openai import FakeOpenAI

DOC = Path(__file__).parents[2] / "docs" / "evaluator.md"
APP_TOKEN = "app-token-for-tests"
DOC_URL = "http://collector:4318"


def section() -> str:
    text = DOC.read_text()
    return text[text.index("\n## User feedback\n") : text.index("\n## Drift\n")]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section(), flags=re.S)


def block(lang: str, containing: str) -> str:
    (found,) = [b for b in blocks(lang) if containing in b]
    return found


def serve_flags() -> tuple[str, str]:
    """(origins, ingest tokens) from the section's `llmsight serve` command."""
    args = shlex.split(block("bash", "llmsight serve").replace("\\\n", " ").replace("$APP_TOKEN", APP_TOKEN))
    tokens = [args[i + 1] for i, a in enumerate(args) if a == "--ingest-token"]
    return args[args.index("--cors-allowed-origins") + 1], ",".join(tokens)


def page_token() -> str:
    return re.search(r'const LLMSIGHT_TOKEN = "([^"]+)"', block("js", "LLMSIGHT_URL")).group(1)


@pytest.fixture
def web_collector(collector_factory):
    origins, tokens = serve_flags()
    assert f"{page_token()}=web" in tokens.split(","), "the page's token should be the tenant-bound one"
    return collector_factory(cors_allowed_origins=origins, ingest_tokens=tokens)


def rows(client, where: str, expected: int = 1, columns: str = "Score, Thumbs, Label, Comment, UserId") -> list:
    deadline = time.monotonic() + 30
    query = f"SELECT {columns} FROM feedback FINAL WHERE {where} ORDER BY Timestamp"
    while len(found := client.query(query).result_rows) < expected:
        assert time.monotonic() < deadline, f"no feedback row where {where}"
        time.sleep(0.05)
    return found


def test_the_json_body_from_the_documented_origin_lands_as_feedback_of_the_pages_tenant(web_collector, store_client):
    """The curl command's body with its shell substitutions done here: needs neither curl nor Node."""
    body = block("bash", "curl").split("<<EOF\n", 1)[1].split("\nEOF", 1)[0]
    body = body.replace("$(openssl rand -hex 16)", os.urandom(16).hex()).replace(
        "$(openssl rand -hex 8)", os.urandom(8).hex()
    )
    body = body.replace("$NOW", str(time.time_ns()))
    assert "$" not in body
    json.loads(body)  # valid JSON once the shell is done with it
    origin = serve_flags()[0].split(",")[0]
    url = f"{web_collector.endpoints.http}/v1/traces"
    asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    preflight = httpx.options(url, headers={"Origin": origin, **asks})  # what the browser sends before the fetch
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
    headers = {"Origin": origin, "Content-Type": "application/json", "Authorization": f"Bearer {page_token()}"}
    response = httpx.post(url, content=body.encode(), headers=headers)
    assert response.status_code == 200 and response.json() == {}, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert rows(store_client, "ResponseId = 'chatcmpl-abc123'") == [(1.0, "up", "helpful", "", "")]
    tenant = store_client.command("SELECT ResourceAttributes['llmsight.tenant'] FROM otel_traces "
                                  "WHERE SpanName = 'llmsight.feedback'")  # fmt: skip
    assert tenant == "web"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node 18+ (fetch)")
def test_the_pages_fetch_runs_in_node(web_collector, store_client, tmp_path):
    script = block("js", "LLMSIGHT_URL")
    assert script.count(f'"{DOC_URL}/v1/traces"') == 1
    (tmp_path / "feedback.js").write_text(script.replace(DOC_URL, web_collector.endpoints.http))
    done = subprocess.run(["node", "feedback.js"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # a refused post rejects the promise: Node exits 1
    assert rows(store_client, "ResponseId = 'chatcmpl-abc123'") == [(0.0, "down", "", "wrong city", "")]


@pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "curl", "openssl")), reason="needs bash, curl, openssl")
def test_the_curl_command_runs(web_collector, store_client):
    command = block("bash", "curl").replace(DOC_URL, web_collector.endpoints.http)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "{}", done.stdout + done.stderr
    assert rows(store_client, "ResponseId = 'chatcmpl-abc123'") == [(1.0, "up", "helpful", "", "")]


def run_python(code: str, cwd: Path, collector, **env: str) -> None:
    (cwd / "example.py").write_text(code)
    full_env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoints.http,
                "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {APP_TOKEN}", **env}  # fmt: skip
    done = subprocess.run([sys.executable, "example.py"], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_python_examples_run_and_the_report_counts_them(web_collector, store_client, database, tmp_path):
    app, job = blocks("python")[:2]
    with FakeOpenAI() as model:
        run_python(app, tmp_path, web_collector, OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="sk-test")
    ratings = rows(store_client, "ResponseId = 'chatcmpl-fake'", expected=3)
    assert ratings == [(1.0, "up", "", "", ""), (0.0, "down", "wrong-answer", "the link in step 2 is dead", "u-42"),
                       (0.25, "", "stars", "", "")]  # fmt: skip

    trace_id, span_id = store_client.query("SELECT TraceId, SpanId FROM llm_calls").result_rows[0]
    reviewed_at = dt.datetime.now(dt.timezone.utc).isoformat()  # after the app's ratings: the latest word
    (tmp_path / "reviews.csv").write_text(
        f"trace_id,span_id,verdict,agent,reviewed_at\n{trace_id},{span_id},good,agent-7,{reviewed_at}\n"
    )
    documented = block("bash", "review_job.py")
    assert "python review_job.py" in documented
    run_python(job, tmp_path, web_collector)
    assert rows(store_client, f"CallSpanId = '{span_id}'") == [(1.0, "up", "agent-review", "", "agent-7")]

    feedback = build_report(store_client, database, 3600).feedback
    assert (feedback.ratings, feedback.rated_calls, feedback.negative_calls) == (4, 1, 0)  # the job's word is latest

    # the section's SQL: the week's comments with their question, the call found by its response id
    comments = store_client.query(block("sql", "FROM feedback AS f FINAL")).result_rows
    assert [(c[1], c[3]) for c in comments] == [(0.0, "the link in step 2 is dead")] and comments[0][4]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node 18+ (fetch)")
def test_the_backend_takes_the_pages_feedback(web_collector, store_client, tmp_path):
    (tmp_path / "feedback_api.py").write_text(block("python", "feedback_api.py"))
    port = free_port()
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": web_collector.endpoints.http,
           "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {APP_TOKEN}"}  # fmt: skip
    api = subprocess.Popen([sys.executable, "-m", "uvicorn", "feedback_api:app", "--port", str(port)], cwd=tmp_path,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/api/feedback"
        deadline = time.monotonic() + 60
        while True:
            try:
                anonymous = httpx.post(url, json={"response_id": "x", "value": True})
                break
            except httpx.TransportError:
                assert api.poll() is None and time.monotonic() < deadline, "the backend did not start"
                time.sleep(0.1)
        assert anonymous.status_code == 401
        # the page's fetch, from a page on the backend's origin, signed in (the session stands for a cookie)
        page = block("js", "/api/feedback")
        signed_in = page.replace('fetch("/api/feedback"', f'fetch("{url}"').replace(
            '{ "Content-Type": "application/json" }',
            '{ "Content-Type": "application/json", "x-authenticated-user": "u-9" }',
        )
        assert signed_in.count(url) == 1 and signed_in.count("u-9") == 1
        (tmp_path / "page.js").write_text(
            signed_in.rstrip().removesuffix(";") + ".then((r) => process.exit(r.status === 202 ? 0 : 1));\n"
        )
        done = subprocess.run(["node", "page.js"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    finally:
        api.terminate()  # at once: the example's shutdown flush sends what the batch processor still holds
        api.wait(timeout=30)
    assert rows(store_client, "UserId = 'u-9'") == [(0.0, "down", "", "wrong city", "u-9")]
