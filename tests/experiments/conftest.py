"""Fixtures for experiment tests: an embedded store per test, the CLI's environment, a working directory
holding the test's app modules (``--target`` imports from it, as from a user's repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATASET = Path(__file__).resolve().parents[2] / "examples" / "evals" / "lumen-notes.jsonl"

# The demo app with a broken retriever: every question gets the pricing page as its context.
WORSE_APP = '''
from llmsight.demo import knowledge
from llmsight.demo.eval_target import answer_with


def answer(question: str) -> str:
    return answer_with(question, [knowledge.BY_DOC["pricing"]])
'''

# The demo app, failing on one row.
FLAKY_APP = '''
from llmsight.demo.eval_target import answer as demo_answer


def answer(question: str, id: str) -> str:
    if id == "refunds-03":
        raise TimeoutError("the model did not answer in 30 s")
    return demo_answer(question)
'''


# An async app with a module-level async client (bound to the event loop it first runs on), that returns
# its context: the judge uses it instead of reading the trace.
ASYNC_APP = '''
import openai

import llmsight
from llmsight.demo import knowledge
from llmsight.demo.eval_target import client as demo_client

_client = None


async def answer(question: str) -> dict:
    global _client
    if _client is None:
        _client = openai.AsyncOpenAI(base_url=str(demo_client().base_url), api_key="demo", max_retries=0)
    with llmsight.retrieval(question, data_source="kb") as found:
        doc = knowledge.search(question, k=1)[0]
        found.set_documents([{"id": doc.id, "content": doc.text}])
    await _client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return {"answer": doc.text.split(". ")[0] + ".", "context": [doc.text]}
'''


@pytest.fixture
def eval_env(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_env: None) -> Path:
    """The CLI pointed at the test's store, in a working directory with the test apps; returns it."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    (work / "worse_app.py").write_text(WORSE_APP)
    (work / "flaky_app.py").write_text(FLAKY_APP)
    (work / "async_app.py").write_text(ASYNC_APP)
    monkeypatch.chdir(work)
    monkeypatch.setenv("LLMSIGHT_CLICKHOUSE_URL", store_url)
    monkeypatch.setenv("LLMSIGHT_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("LLMSIGHT_JUDGE_MODEL", "demo-judge")
    return work
