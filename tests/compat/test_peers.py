"""Each peer instrumentation's spans become llm_calls rows: the field-by-field table of docs/attributes.md.

For each peer, tests/compat/peer_app.py runs in its own process (the instrumentors patch the same
client methods): the real peer package instruments the real ``openai`` client, which talks to the
fake OpenAI server, and the real OTel SDK exports over OTLP/HTTP to a real collector on chDB. The
same calls (``peer_app.CASES``) are made for every peer; ``FULL`` is what a call's row holds when
the peer sends everything, and ``GAPS`` what a peer does not send (each entry says why).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compat.peer_app import CASES
from llmsight.store.event_content import fill_from_events
from llmsight.store.prices import find_price

HERE = Path(__file__).parent
# peer -> the module it needs (its service is compat-{peer})
PEERS: dict[str, str | None] = {
    "llmsight": None,
    "official": "opentelemetry.instrumentation.openai_v2",
    "official-events": "opentelemetry.instrumentation.openai_v2",
    "openllmetry": "opentelemetry.instrumentation.openai",
    "openllmetry-events": "opentelemetry.instrumentation.openai",
    "openinference": "openinference.instrumentation.openai",
}
OPENLIT_SKIP = (
    "openlit 1.45.0 (its latest release) requires openai<3.0.0 and llmsight uses openai 3, so it is not in the "
    "compat extra and cannot be installed next to the other peers"
)

PROMPT = "Weather in Paris?"
TOOL_CALL = {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
CHAT = {
    "Operation": "chat",
    "Provider": "openai",
    "RequestModel": "gpt-4o-mini",
    "Model": "gpt-4o-mini",
    "InputTokens": 0,
    "OutputTokens": 0,
    "CacheReadTokens": 0,
    "ReasoningTokens": 0,
    "Prompt": PROMPT,
    "Completion": "",
    "ToolCalls": [],
    "FinishReasons": [],
    "IsError": 0,
    "ErrorType": "",
    "Stream": 0,
    "TimeToFirstChunk": False,  # True: 0 < TimeToFirstChunk < the call's duration; False: NULL
}
# What each call's row holds when the peer sends everything (llmsight's own instrumentation does).
FULL: dict[str, dict[str, Any]] = {
    "chat": {**CHAT, "InputTokens": 21, "OutputTokens": 4, "CacheReadTokens": 5, "ReasoningTokens": 2,
             "Completion": "Sunny.", "FinishReasons": ["stop"]},
    "stream_usage": {**CHAT, "InputTokens": 12, "OutputTokens": 6, "Completion": "Sunny and warm.",
                     "FinishReasons": ["stop"], "Stream": 1, "TimeToFirstChunk": True},
    # the fake server sends usage only when asked (stream_options.include_usage)
    "stream_no_usage": {**CHAT, "Completion": "Cloudy.", "FinishReasons": ["stop"], "Stream": 1,
                        "TimeToFirstChunk": True},
    "tool_call": {**CHAT, "InputTokens": 30, "OutputTokens": 8, "ToolCalls": [TOOL_CALL],
                  "FinishReasons": ["tool_calls"]},
    "embeddings": {**CHAT, "Operation": "embeddings", "RequestModel": "text-embedding-3-small",
                   "Model": "text-embedding-3-small", "InputTokens": 6, "Prompt": "alpha\nbeta"},
    "error_500": {**CHAT, "IsError": 1, "ErrorType": "InternalServerError"},
    "error_429": {**CHAT, "IsError": 1, "ErrorType": "RateLimitError"},
}  # fmt: skip
STREAMS = ("stream_usage", "stream_no_usage")
CONTENT = {"Prompt": "", "Completion": "", "ToolCalls": []}
OFFICIAL_GAPS: dict[str, dict[str, Any]] = {
    # no cached / reasoning token attributes
    "chat": {"CacheReadTokens": 0, "ReasoningTokens": 0},
    # nothing on a stream's span says it was one (no gen_ai.request.stream), nor when its first chunk came
    **{case: {"Stream": 0, "TimeToFirstChunk": False} for case in STREAMS},
    # embeddings inputs are not captured in any mode
    "embeddings": {"Prompt": ""},
}
GAPS: dict[str, dict[str, dict[str, Any]]] = {
    "llmsight": {},
    "official": OFFICIAL_GAPS,
    # EVENT_ONLY: the messages come in the gen_ai.client.inference.operation.details log record, which
    # readers join by span id (llm_call_events); streams have no finish reason on the span then
    "official-events": {
        case: {**OFFICIAL_GAPS.get(case, {}), **({"FinishReasons": []} if case in STREAMS else {})} for case in CASES
    },
    "openllmetry": {},
    # use_attributes=False: per-message log events. A stream's gen_ai.choice event is sent after its span
    # ended, with no span id, so it cannot be joined: no completion; an embeddings call's inputs are one
    # gen_ai.user.message each, and the prompt is the last of them
    "openllmetry-events": {
        **{case: {"Completion": ""} for case in STREAMS},
        "embeddings": {"Prompt": "beta"},
    },
    "openinference": {},
}
OUTCOMES = {**dict.fromkeys(CASES, "ok"), "error_500": "InternalServerError", "error_429": "RateLimitError"}


def expected(peer: str, case: str) -> dict[str, Any]:
    return {**FULL[case], **GAPS[peer].get(case, {})}


def run_peer(peer: str, collector) -> dict[str, str]:
    """Run peer_app.py for ``peer`` against the collector; what each call raised."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_", "LLMSIGHT_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, str(HERE / "peer_app.py"), peer, collector.endpoints.http],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def observed(row: dict[str, Any]) -> dict[str, Any]:
    """The row's fields in the form FULL states them."""
    messages = json.loads(row["OutputMessages"]) if row["OutputMessages"] else []
    tool_calls = [
        {"id": part.get("id"), "name": part.get("name"), "arguments": part.get("arguments")}
        for message in messages
        for part in message.get("parts", [])
        if part.get("type") == "tool_call"
    ]
    ttfc = row["TimeToFirstChunk"]
    if ttfc is not None:
        assert 0 < ttfc < row["Duration"] / 1e9, (ttfc, row["Duration"])
    return {**{k: row[k] for k in CHAT if k in row}, "ToolCalls": tool_calls, "TimeToFirstChunk": ttfc is not None}


def expected_cost(row: dict[str, Any]) -> float:
    found = find_price(row["Provider"], row["Model"])
    assert found is not None, (row["Provider"], row["Model"])
    _, _, input_price, output_price, cache_price = found
    cached = min(row["CacheReadTokens"], row["InputTokens"])
    uncached = row["InputTokens"] - cached
    return (uncached * input_price + cached * cache_price + row["OutputTokens"] * output_price) / 1e6


@pytest.mark.parametrize(
    "peer", [*PEERS, pytest.param("openlit", marks=pytest.mark.skip(reason=OPENLIT_SKIP))]
)  # fmt: skip
def test_peer_calls_become_llm_calls_rows(peer, collector, store_client):
    module = PEERS[peer]
    if module and importlib.util.find_spec(module) is None:  # found, not imported: a broken peer must fail
        pytest.skip(f"{peer} ({module}) is not installed on this Python (the compat extra pins it)")
    outcomes = run_peer(peer, collector)
    assert outcomes == {**OUTCOMES, "requests": str(len(CASES))}  # and no retries
    collector.wait_until_stored()
    # no resolve_prices here: the collector prices a new model before it stores its calls
    rows = list(
        store_client.query(
            "SELECT *, Prompt, Completion, Cost FROM llm_calls WHERE ServiceName = {service:String} ORDER BY Timestamp",
            parameters={"service": f"compat-{peer}"},
        ).named_results()
    )
    rows = fill_from_events(store_client, store_client.database, rows)  # what readers see: content sent as events
    assert [r["Operation"] for r in rows] == [expected(peer, case)["Operation"] for case in CASES], [
        r["SpanName"] for r in rows
    ]
    mismatches = {}
    for case, row in zip(CASES, rows, strict=True):
        want, got = expected(peer, case), observed(row)
        diff = {field: (got[field], value) for field, value in want.items() if got[field] != value}
        if diff:
            mismatches[case] = diff  # field: (stored, expected)
        assert row["Cost"] == pytest.approx(expected_cost(row)), case
        assert (row["Cost"] > 0) == (row["InputTokens"] + row["OutputTokens"] > 0), case
    assert mismatches == {}

    if peer == "official-events":
        # the content that is not in llm_calls: one log record per chat call, on the call's span
        logs = store_client.query(
            "SELECT SpanId, LogAttributes['gen_ai.input.messages'], LogAttributes['gen_ai.output.messages'] "
            "FROM otel_logs WHERE ServiceName = 'compat-official-events' "
            "AND EventName = 'gen_ai.client.inference.operation.details' ORDER BY Timestamp"
        ).result_rows
        chats = [r for case, r in zip(CASES, rows, strict=True) if case != "embeddings"]
        assert [span_id for span_id, _, _ in logs] == [r["SpanId"] for r in chats]
        assert all(PROMPT in json.dumps(json.loads(sent)) for _, sent, _ in logs)
        assert "Sunny." in logs[0][2] and "get_weather" in logs[3][2]
