"""200 replies whose body lacks fields: the client returns them (it does not validate), so they are the app's
valid result and llmsight must record what they carry without logging an internal error.

openai-python's own suite sends such bodies (``{"model": "gpt-4"}``, ``{"foo": "bar"}`` in
tests/test_client.py::TestOpenAI::test_api_key_refresh_on_retry and tests/lib/test_azure.py): the client
builds a ``ChatCompletion`` with ``choices=None`` and ``usage=None``, which llmsight used to iterate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from fake_openai import Reply

from llmsight.instrumentation import safety

from .helpers import attr_json, only_span

pytestmark = pytest.mark.usefixtures("instrumented")

MESSAGES = [{"role": "user", "content": "Hi"}]
USAGE = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


@pytest.fixture()
def internal_errors(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """llmsight's warnings so far in the test; once-per-place memory cleared so an earlier report cannot hide one."""
    monkeypatch.setattr(safety, "_reported", set())
    caplog.set_level(logging.WARNING, logger="llmsight.instrumentation")
    return lambda: [r.getMessage() for r in caplog.records if r.name.startswith("llmsight")]


def test_chat_body_with_model_only(client, fake, exporter, internal_errors):
    fake.enqueue(Reply(json={"model": "gpt-4"}))
    result = client.chat.completions.create(model="gpt-4", messages=MESSAGES)
    assert result.choices is None and result.usage is None  # what the client hands the app
    span = only_span(exporter)
    a = span.attributes
    assert a["gen_ai.request.model"] == "gpt-4"
    assert a["gen_ai.response.model"] == "gpt-4"
    assert attr_json(span, "gen_ai.input.messages") == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    for absent in ("gen_ai.response.id", "gen_ai.response.finish_reasons", "gen_ai.output.messages",
                   "gen_ai.usage.input_tokens"):
        assert absent not in a
    assert internal_errors() == []


def test_chat_body_with_unrelated_fields_through_retry(fake, exporter, internal_errors):
    """The suite's exact case: a 500, then a retried 200 with ``{"foo": "bar"}``."""
    import openai

    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=1)
    fake.enqueue(Reply(status=500, json={"error": "server error"}, headers={"retry-after-ms": "1"}),
                 Reply(json={"foo": "bar"}))
    client.chat.completions.create(model="gpt-4", messages=MESSAGES)
    assert len(fake.requests) == 2
    span = only_span(exporter)
    assert span.attributes["gen_ai.request.model"] == "gpt-4"
    assert "gen_ai.response.model" not in span.attributes
    assert internal_errors() == []


def test_chat_body_without_choices_keeps_id_and_usage_async_and_raw(client, aclient, fake, exporter,
                                                                    internal_errors):
    body = {"id": "chatcmpl-partial", "model": "gpt-4o-mini", "usage": USAGE}
    fake.enqueue(Reply(json=body), Reply(json=body))

    async def run():
        return await aclient.chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(run())
    client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES).parse()
    spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    assert len(spans) == 2
    for span in spans:
        a = span.attributes
        assert a["gen_ai.response.id"] == "chatcmpl-partial"
        assert a["gen_ai.response.model"] == "gpt-4o-mini"
        assert a["gen_ai.usage.input_tokens"] == 4 and a["gen_ai.usage.output_tokens"] == 2
        assert "gen_ai.response.finish_reasons" not in a
    assert internal_errors() == []


def test_chat_mistyped_fields_keep_the_readable_choices(client, fake, exporter, internal_errors):
    """A choice that is not an object and a message that is not one: the rest of the reply is still read."""
    fake.enqueue(Reply(json={"id": "c1", "model": "m", "usage": 7, "choices": [
        "oops",
        {"index": 0, "finish_reason": "stop", "message": "not an object"},
        {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "Hel"}},
    ]}))
    client.chat.completions.create(model="m", messages=MESSAGES)
    span = only_span(exporter)
    assert tuple(span.attributes["gen_ai.response.finish_reasons"]) == ("stop", "length")
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert attr_json(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hel"}], "finish_reason": "length"},
    ]
    assert internal_errors() == []


def test_other_apis_with_model_only_bodies(client, fake, exporter, internal_errors):
    fake.enqueue(Reply(json={"model": "x"}), Reply(json={"model": "x", "output": "text"}), Reply(json={"model": "x"}),
                 Reply(json={"model": "x", "data": [{"index": 0}]}))
    client.completions.create(model="x", prompt="Hi")
    client.responses.create(model="x", input="Hi")
    client.responses.create(model="x", input="Hi")
    client.embeddings.create(model="x", input="Hi")
    spans = exporter.get_finished_spans()
    assert len(spans) == 4
    assert all(s.attributes["gen_ai.response.model"] == "x" for s in spans)
    completion = next(s for s in spans if s.name == "text_completion x")
    assert "gen_ai.response.finish_reasons" not in completion.attributes
    assert internal_errors() == []
