"""Evaluation context on LLM spans, retrieval spans, and the app's own steps in one trace."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from opentelemetry.trace import StatusCode

import llmsight
from llmsight.instrumentation import bind_context

from .helpers import attr_json, llm_spans, only_span

pytestmark = pytest.mark.usefixtures("instrumented")
MESSAGES = [{"role": "user", "content": "Where is my parcel?"}]
DOCS = ["Parcels ship in 2 days.", {"id": "faq-7", "content": "Tracking links arrive by email.", "score": 0.8}]


def _ask(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="m", messages=MESSAGES)


def test_context_attaches_everything(client, fake, exporter):
    with llmsight.context(documents=DOCS, ground_truth="In 2 days.", session_id="s-1", user_id="u-9",
                          tags=["beta", "eu"]):
        _ask(client)
    _ask(client)  # outside: nothing attached
    inside, outside = llm_spans(exporter)
    a = inside.attributes
    assert attr_json(inside, "llmsight.context.documents") == [
        "Parcels ship in 2 days.", {"id": "faq-7", "content": "Tracking links arrive by email.", "score": 0.8}]
    assert a["llmsight.ground_truth"] == "In 2 days."
    assert a["session.id"] == "s-1" and a["user.id"] == "u-9"
    assert json.loads(a["llmsight.tags"]) == ["beta", "eu"]
    assert not any(k.startswith(("llmsight.", "session.", "user.")) for k in outside.attributes)


def test_nested_contexts_merge_and_restore(client, fake, exporter):
    with llmsight.context(session_id="outer", user_id="u"):
        with llmsight.context(session_id="inner", documents=["d"]):
            _ask(client)
        _ask(client)
    first, second = llm_spans(exporter)
    assert first.attributes["session.id"] == "inner" and first.attributes["user.id"] == "u"
    assert second.attributes["session.id"] == "outer" and "llmsight.context.documents" not in second.attributes


def test_context_as_decorator(client, fake, exporter):
    @llmsight.context(ground_truth="42")
    def answer() -> None:
        _ask(client)

    answer()
    assert only_span(exporter).attributes["llmsight.ground_truth"] == "42"


def test_context_follows_await_and_stays_per_task(fake, exporter):
    async def one(user: str) -> None:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        with llmsight.context(user_id=user):
            await asyncio.sleep(0.01)
            await client.chat.completions.create(model="m", messages=MESSAGES)

    async def main() -> None:
        await asyncio.gather(one("a"), one("b"), one("c"))

    asyncio.run(main())
    assert sorted(s.attributes["user.id"] for s in llm_spans(exporter)) == ["a", "b", "c"]


def test_threads_need_bind_context(client, fake, exporter):
    with llmsight.context(session_id="threaded"), ThreadPoolExecutor(2) as pool:
        pool.submit(bind_context(_ask), client).result()
        pool.submit(bind_context(_ask), client).result()
        plain = threading.Thread(target=_ask, args=(client,))  # documented: no context copied
        plain.start()
        plain.join()
    sessions = sorted(s.attributes.get("session.id", "-") for s in llm_spans(exporter))
    assert sessions == ["-", "threaded", "threaded"]


def test_retrieval_span_and_documents_for_following_calls(client, fake, exporter):
    with llmsight.trace("answer-question"):
        with llmsight.retrieval("parcel delay", DOCS, data_source="faq-index") as found:
            assert found is not None
            _ask(client)  # inside the retrieval block
        _ask(client)  # after it, same trace
    _ask(client)  # another trace: no documents
    spans = exporter.get_finished_spans()
    retrieval = next(s for s in spans if s.name == "retrieval faq-index")
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert retrieval.attributes["gen_ai.data_source.id"] == "faq-index"
    assert retrieval.attributes["gen_ai.retrieval.query.text"] == "parcel delay"
    assert json.loads(retrieval.attributes["gen_ai.retrieval.documents"])[1]["id"] == "faq-7"
    inside, after, other = [s for s in spans if s.name == "chat m"]
    assert inside.parent.span_id == retrieval.context.span_id
    assert attr_json(inside, "llmsight.context.documents")[0] == "Parcels ship in 2 days."
    assert attr_json(after, "llmsight.context.documents") == attr_json(inside, "llmsight.context.documents")
    assert after.context.trace_id == retrieval.context.trace_id
    assert "llmsight.context.documents" not in other.attributes


def test_retrieval_decorator_takes_query_and_returned_documents(client, fake, exporter):
    @llmsight.retrieval(data_source="kb")
    def search(query: str, k: int = 2) -> list[str]:
        return [f"doc about {query}"] * k

    @llmsight.trace("rag")
    def rag(question: str) -> None:
        search(question)
        _ask(client)

    rag("refunds")
    spans = exporter.get_finished_spans()
    retrieval = next(s for s in spans if s.name == "retrieval kb")
    assert retrieval.attributes["gen_ai.retrieval.query.text"] == "refunds"
    llm = next(s for s in spans if s.name == "chat m")
    assert attr_json(llm, "llmsight.context.documents") == ["doc about refunds", "doc about refunds"]
    step = next(s for s in spans if s.name == "rag")
    assert llm.parent.span_id == step.context.span_id == retrieval.parent.span_id


def test_retrieval_set_documents_inside_block(client, fake, exporter):
    with llmsight.retrieval("q") as r:
        r.set_documents(["late doc"])
        _ask(client)
    assert attr_json(only_span(exporter), "llmsight.context.documents") == ["late doc"]


def test_trace_decorator_async_and_errors(aclient, fake, exporter):
    @llmsight.trace("step")
    async def step() -> None:
        await aclient.chat.completions.create(model="m", messages=MESSAGES)
        raise ValueError("app bug")

    with pytest.raises(ValueError, match="app bug"):
        asyncio.run(step())
    spans = exporter.get_finished_spans()
    outer = next(s for s in spans if s.name == "step")
    assert outer.status.status_code is StatusCode.ERROR
    assert outer.attributes["error.type"] == "ValueError"
    assert next(s for s in spans if s.name == "chat m").parent.span_id == outer.context.span_id


def test_bare_trace_decorator_uses_function_name(client, fake, exporter):
    @llmsight.trace
    def handle_ticket() -> str:
        _ask(client)
        return "ok"

    assert handle_ticket() == "ok"
    assert any(s.name.endswith("handle_ticket") for s in exporter.get_finished_spans())


def test_context_decorator_is_safe_for_concurrent_tasks(fake, exporter):
    @llmsight.context(session_id="shared")
    async def handle(i: int) -> None:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="k", max_retries=0)
        await asyncio.sleep(0.01 * i)  # the first to enter exits first (not LIFO)
        await client.chat.completions.create(model="m", messages=MESSAGES)

    async def main() -> None:
        await asyncio.gather(*(handle(i) for i in range(3)))

    asyncio.run(main())
    assert [s.attributes["session.id"] for s in llm_spans(exporter)] == ["shared"] * 3
