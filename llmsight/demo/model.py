"""A built-in OpenAI-compatible model server for the demo (no API key, no network).

``POST /v1/chat/completions``, streamed (SSE chunks, a usage chunk when
``stream_options.include_usage``) or not, with token usage counted at about four characters a
token. Two roles:

- *app mode*: answers questions about the built-in knowledge base with a seeded, realistic mix of
  grounded answers, invented (ungrounded) answers, off-topic answers and failures (429, 500, a
  reply slower than the app's timeout), after a few milliseconds of simulated latency;
- *judge mode* (the evaluator's system prompt, or the model ``demo-judge``): a judge reply
  ``{"reasoning", "score"}`` from :mod:`llmsight.demo.judge`'s heuristics.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llmsight.demo import judge, knowledge
from llmsight.demo.background_server import BackgroundServer

JUDGE_MODEL = "demo-judge"
APP_MODEL = "gpt-4o-mini"  # priced by genai-prices, so the demo's cost columns are filled
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
SLOW_REPLY_S = 1.0  # longer than the demo app's client timeout

# Outcome of an app request and its share of traffic.
MIX = (
    ("grounded", 0.65),
    ("ungrounded", 0.15),
    ("off_topic", 0.10),
    ("rate_limited", 0.04),
    ("server_error", 0.03),
    ("timeout", 0.03),
)


def pick_outcome(roll: float) -> str:
    """The outcome a roll in [0, 1) falls on in ``MIX``."""
    acc = 0.0
    for outcome, share in MIX:
        acc += share
        if roll < acc:
            return outcome
    return MIX[0][0]


def tokens(text: str) -> int:
    return max(1, round(len(text) / 4))


def _best_sentences(question: str, context: str) -> str:
    """For a question the knowledge base does not list: the context sentences sharing most words with it."""
    q = knowledge.words(question)
    sentences = [s.strip() for s in context.replace("\n", " ").split(". ") if s.strip()]
    ranked = sorted(sentences, key=lambda s: -len(q & knowledge.words(s)))
    best = [s for s in ranked[:2] if q & knowledge.words(s)]
    if not best:
        return "I could not find that in the documentation."
    return ". ".join(s.rstrip(".") for s in best) + "."


class DemoModelServer(BackgroundServer):
    """Runs in a daemon thread on 127.0.0.1 and a free port; ``base_url`` is what the openai client needs."""

    name = "llmsight-demo-model"

    def __init__(
        self,
        seed: int = 7,
        latency_s: tuple[float, float] = (0.005, 0.04),
        mix: tuple[tuple[str, float], ...] | None = None,
    ) -> None:
        """``mix`` set: each question's outcome is drawn from it by a hash of the question, so the same
        question always gets the same answer whatever the order (an experiment's rows, run concurrently)."""
        self._rng = random.Random(seed)
        self.mix = mix
        self._lock = threading.Lock()
        self.latency_s = latency_s
        self.outcomes: Counter[str] = Counter()
        self.judge_calls = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    # --- app mode ---

    def _draw(self) -> tuple[str, float, int]:
        """(outcome, latency, pick) for the next app request, from the seeded generator."""
        with self._lock:
            roll = self._rng.random()
            latency = self._rng.uniform(*self.latency_s)
            if self._rng.random() < 0.05:  # a slow tail, so latency percentiles have shape
                latency += self._rng.uniform(0.1, 0.3)
            pick = self._rng.randrange(1 << 30)
        return pick_outcome(roll), latency, pick

    def _fixed_draw(self, messages: list[dict]) -> tuple[str, float, int]:
        question = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
        pick = zlib.crc32(question.encode())
        roll = (pick % 10_000) / 10_000
        acc = 0.0
        for outcome, share in self.mix or ():
            acc += share
            if roll < acc:
                return outcome, self.latency_s[0], pick
        return (self.mix or MIX)[0][0], self.latency_s[0], pick

    def _app_answer(self, messages: list[dict], outcome: str, pick: int) -> str:
        question = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        known = knowledge.BY_QUESTION.get(question)
        if outcome == "off_topic":
            return knowledge.OFF_TOPIC[pick % len(knowledge.OFF_TOPIC)]
        if known is None:
            return _best_sentences(question, system)
        return known.invented if outcome == "ungrounded" else known.answer

    # --- HTTP ---

    async def _models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "owned_by": "llmsight-demo"} for m in (APP_MODEL, JUDGE_MODEL)]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            messages = list(body.get("messages") or [])
        except (ValueError, AttributeError):
            return _error(400, "request body is not a chat completion request", "invalid_request_error")
        model = str(body.get("model") or APP_MODEL)
        if model == JUDGE_MODEL or judge.is_judge_request(messages):
            with self._lock:
                self.judge_calls += 1
            content = judge.judge_content(messages)
            await asyncio.sleep(0.001)
            return self._reply(body, messages, content, model)
        if self.mix is not None:
            outcome, latency, pick = self._fixed_draw(messages)
        else:
            outcome, latency, pick = self._draw()
        with self._lock:
            self.outcomes[outcome] += 1
        if outcome == "rate_limited":
            await asyncio.sleep(latency / 5)
            return _error(
                429,
                f"Rate limit reached for {APP_MODEL} on tokens per min (TPM): Limit 200000. Please try again in 1s.",
                "tokens",
                code="rate_limit_exceeded",
                headers={"retry-after": "1"},
            )
        if outcome == "server_error":
            await asyncio.sleep(latency)
            return _error(
                500, "The server had an error while processing your request. Sorry about that!", "server_error"
            )
        if outcome == "timeout":
            await asyncio.sleep(SLOW_REPLY_S)
        else:
            await asyncio.sleep(latency)
        content = self._app_answer(messages, outcome, pick)
        return self._reply(body, messages, content, RESPONSE_MODEL if model == APP_MODEL else model)

    def _reply(self, body: dict, messages: list[dict], content: str, model: str) -> Response:
        prompt_tokens = sum(tokens(str(m.get("content") or "")) + 4 for m in messages) + 3
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": tokens(content),
            "total_tokens": prompt_tokens + tokens(content),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        base = {
            "id": f"chatcmpl-demo{time.monotonic_ns():x}",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_llmsight_demo",
        }
        if not body.get("stream"):
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
            return JSONResponse({**base, "object": "chat.completion", "choices": [choice], "usage": usage})
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunk = {**base, "object": "chat.completion.chunk"}

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
            return f"data: {json.dumps(data)}\n\n".encode()

        async def sse() -> AsyncIterator[bytes]:
            yield event({"role": "assistant", "content": ""})
            pieces = content.split(" ")
            for i, piece in enumerate(pieces):
                yield event({"content": piece if i == 0 else " " + piece})
                if i % 4 == 3:
                    await asyncio.sleep(0.001)
            yield event({}, "stop")
            if include_usage:
                yield f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    # --- lifecycle ---


def _error(status: int, message: str, kind: str, code: str | None = None, headers: dict | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)
