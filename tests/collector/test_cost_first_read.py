"""A call of a model the store has never seen has its cost the first time anyone reads it.

Runs the real ``llmsight serve`` and reads through the CLI's own path (``query_client``: serve's
query endpoint). serve prices a batch's new models before inserting it, so no read can see the
call before its price; its 15-second price job is not what makes this pass (the first reads
happen well within its first interval).
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx2 as httpx
import pytest
from genai_prices import Usage, calc_price

from llmsight.cli.common import query_client
from llmsight.settings import Settings
from tests.collector.otlp_bodies import chat_span_request
from tests.collector.serve_process import start_serve

MODEL = "gpt-4.1-nano"  # not gpt-4o-mini, the model every other test sends


def _with_model(request, model: str):
    for span in request.resource_spans[0].scope_spans[0].spans:
        for attribute in span.attributes:
            if attribute.key == "gen_ai.request.model":
                attribute.value.string_value = model
    return request


def test_new_models_call_is_priced_on_first_read(tmp_path):
    serve = start_serve(tmp_path)
    try:
        client = query_client(Settings(clickhouse_url=f"chdb://{tmp_path}/clickhouse"))
        body = _with_model(chat_span_request(2, service="first-read"), MODEL).SerializeToString()
        started = time.monotonic()
        response = httpx.post(
            f"{serve.http}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
        )
        assert response.status_code == 200
        rows: list = []
        while not rows and time.monotonic() - started < 10:
            rows = client.query(
                "SELECT InputTokens, OutputTokens, Cost FROM llm_calls WHERE ServiceName = 'first-read' "
                "ORDER BY InputTokens"
            ).result_rows
        assert time.monotonic() - started < 10, "the calls were not stored"
    finally:
        serve.stop()
    assert [r[:2] for r in rows] == [(100, 20), (101, 20)]  # the first read that saw them
    for input_tokens, output_tokens, cost in rows:
        expected = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens), MODEL, provider_id="openai"
        )
        assert expected.total_price > 0
        assert cost == pytest.approx(float(expected.total_price), rel=1e-9)
        assert isinstance(expected.total_price, Decimal)


SPANS = [
    {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
     "gen_ai.response.model": "gpt-4o-2024-08-06"},
    {"gen_ai.system": "OpenAI", "llm.request.type": "chat", "gen_ai.request.model": "gpt-4o"},
    {"openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-mini"},
    {"openinference.span.kind": "LLM", "llm.provider": "azure", "llm.system": "openai",
     "llm.invocation_parameters": '{"model": "gpt-4o"}'},
    {"openinference.span.kind": "EMBEDDING", "llm.system": "openai", "embedding.model_name": "text-embedding-3-small"},
]  # fmt: skip


@pytest.mark.parametrize("attributes", SPANS, ids=range(len(SPANS)))
def test_ingest_pricing_derives_the_views_provider_and_model(store_client, attributes):
    """What is priced before insert is the (Provider, Model) the view then stores."""
    from llmsight.collector.processors.pricing import call_pair
    from tests.collector.direct_rows import insert_span

    trace_id = insert_span(store_client, attributes)
    stored = store_client.query(f"SELECT Provider, Model FROM llm_calls WHERE TraceId = '{trace_id}'").result_rows
    assert [call_pair(attributes)] == stored
