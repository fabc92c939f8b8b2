"""A scriptable OpenAI-compatible HTTP server on 127.0.0.1 for tests that use the real ``openai`` client.

Start it with ``with FakeOpenAI() as server:`` and point a client at ``server.base_url``. Every
request is recorded in ``server.requests`` (method, path, headers, JSON body). Replies come from,
in order: the queue filled with ``server.enqueue(...)`` (a :class:`Reply` or a callable taking the
:class:`RecordedRequest`), then ``handler`` (a callable returning a :class:`Reply` or ``None``),
then a default reply for the endpoint that echoes the last user text.

Scripted replies that should work for streaming and non-streaming calls alike are built with
:func:`chat`, :func:`responses`, :func:`completion`, :func:`embeddings`; exact bodies with
``Reply(json=...)`` / ``Reply(events=[...])``; failures with :func:`error`. ``delay`` holds the
reply back (for client timeouts) and ``chunk_delay`` spaces the stream events.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llmsight.demo.background_server import BackgroundServer

DEFAULT_MODEL = "gpt-fake-1"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        if not isinstance(self.body, dict):
            return False
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage"))


@dataclass
class Reply:
    """One HTTP reply: a JSON body, or SSE ``events`` (each JSON-encoded, then ``[DONE]``)."""

    status: int = 200
    json: Any = None
    events: Sequence[Any] | None = None
    done_marker: bool = True
    delay: float = 0.0
    chunk_delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


Script = Reply | Callable[[RecordedRequest], Reply]


def error(status: int, message: str = "scripted error", code: str | None = None,
          kind: str = "invalid_request_error", **reply_args: Any) -> Reply:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return Reply(status=status, json=body, **reply_args)


def _usage_chat(input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def chat(content: str | None = "Hello from the fake model.", tool_calls: Sequence[dict[str, Any]] = (),
         finish_reason: str | None = None, model: str | None = None, usage: tuple[int, int] = (11, 7),
         cached_tokens: int = 0, reasoning_tokens: int = 0, piece_size: int = 5,
         response_id: str = "chatcmpl-fake",
         **reply_args: Any) -> Callable[[RecordedRequest], Reply]:
    """A chat completion reply; streamed in ``piece_size`` pieces when the request asks for a stream.

    ``tool_calls`` items: ``{"id": "call_1", "name": "get_weather", "arguments": "{...}"}``.
    """
    reason = finish_reason or ("tool_calls" if tool_calls else "stop")

    def render(request: RecordedRequest) -> Reply:
        name = model or (request.body or {}).get("model") or DEFAULT_MODEL
        base = {"id": response_id, "created": 1_700_000_000, "model": name, "system_fingerprint": "fp_fake"}
        usage_body = _usage_chat(*usage, cached=cached_tokens, reasoning=reasoning_tokens)
        if not request.stream:
            message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
            if tool_calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in tool_calls
                ]
            body = {**base, "object": "chat.completion", "usage": usage_body, "service_tier": "default",
                    "choices": [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}]}
            return Reply(json=body, **reply_args)
        chunk = {**base, "object": "chat.completion.chunk"}

        def event(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {**chunk, "choices": [choice]}

        events: list[Any] = [event({"role": "assistant", "content": "", "refusal": None})]
        if content:
            events += [event({"content": piece}) for piece in _pieces(content, piece_size)]
        for i, call in enumerate(tool_calls):
            events.append(event({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                 "function": {"name": call["name"], "arguments": ""}}]}))
            events += [event({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                       for piece in _pieces(call["arguments"], piece_size)]
        events.append(event({}, reason))
        if request.include_usage:
            events.append({**chunk, "choices": [], "usage": usage_body})
        return Reply(events=events, **reply_args)

    return render


def responses(text: str = "Hello from the fake model.", function_call: dict[str, Any] | None = None,
              model: str | None = None, usage: tuple[int, int] = (13, 9), status: str = "completed",
              response_id: str = "resp_fake", piece_size: int = 5,
              **reply_args: Any) -> Callable[[RecordedRequest], Reply]:
    """A Responses API reply (``function_call``: ``{"call_id", "name", "arguments"}``), streamed if asked."""

    def render(request: RecordedRequest) -> Reply:
        body_in = request.body or {}
        output: list[dict[str, Any]] = []
        if text:
            output.append({"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": text, "annotations": []}]})
        if function_call:
            output.append({"type": "function_call", "id": "fc_fake", "status": "completed", **function_call})
        response = {
            "id": response_id, "object": "response", "created_at": 1_700_000_000, "status": status,
            "model": model or body_in.get("model") or DEFAULT_MODEL, "output": output,
            "instructions": body_in.get("instructions"), "parallel_tool_calls": True, "tool_choice": "auto",
            "tools": [], "temperature": body_in.get("temperature"), "top_p": None, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "metadata": {}, "service_tier": "default",
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage),
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}},
        }
        if not request.stream:
            return Reply(json=response, **reply_args)
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[Any] = [{"type": "response.created", "sequence_number": 0, "response": started}]

        def add(event: dict[str, Any]) -> None:
            events.append({**event, "sequence_number": len(events)})

        if text:
            message = output[0]
            where = {"item_id": "msg_fake", "output_index": 0, "content_index": 0}
            add({"type": "response.output_item.added", "output_index": 0,
                 "item": {**message, "status": "in_progress", "content": []}})
            add({"type": "response.content_part.added", **where,
                 "part": {"type": "output_text", "text": "", "annotations": []}})
            for piece in _pieces(text, piece_size):
                add({"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []})
            add({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
            add({"type": "response.content_part.done", **where, "part": message["content"][0]})
            add({"type": "response.output_item.done", "output_index": 0, "item": message})
        if function_call:
            index = len(output) - 1
            add({"type": "response.output_item.added", "output_index": index,
                 "item": {**output[-1], "arguments": "", "status": "in_progress"}})
            add({"type": "response.function_call_arguments.delta", "item_id": "fc_fake", "output_index": index,
                 "delta": function_call.get("arguments", "")})
            add({"type": "response.output_item.done", "output_index": index, "item": output[-1]})
        terminal = "response.completed" if status == "completed" else f"response.{status}"
        events.append({"type": terminal, "sequence_number": len(events), "response": response})
        return Reply(events=events, done_marker=False, **reply_args)

    return render


def completion(text: str = " the fake completion.", usage: tuple[int, int] = (5, 4),
               finish_reason: str = "stop",
               piece_size: int = 5, **reply_args: Any) -> Callable[[RecordedRequest], Reply]:
    """A legacy Completions reply, streamed if asked (with a usage chunk when include_usage)."""

    def render(request: RecordedRequest) -> Reply:
        body_in = request.body or {}
        base = {"id": "cmpl-fake", "object": "text_completion", "created": 1_700_000_000,
                "model": body_in.get("model") or DEFAULT_MODEL}
        usage_body = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
        if not request.stream:
            return Reply(json={**base, "usage": usage_body, "choices": [
                {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}]}, **reply_args)
        events: list[Any] = [
            {**base, "choices": [{"index": 0, "text": p, "finish_reason": None, "logprobs": None}]}
            for p in _pieces(text, piece_size)
        ]
        events.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": finish_reason,
                                            "logprobs": None}]})
        if request.include_usage:
            events.append({**base, "choices": [], "usage": usage_body})
        return Reply(events=events, **reply_args)

    return render


def embeddings(dimensions: int = 8, prompt_tokens: int = 3,
               **reply_args: Any) -> Callable[[RecordedRequest], Reply]:
    def render(request: RecordedRequest) -> Reply:
        body_in = request.body or {}
        inputs = body_in.get("input")
        count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
        data = [{"object": "embedding", "index": i, "embedding": [0.125 * (i + 1)] * dimensions}
                for i in range(count)]
        usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
        model = body_in.get("model") or DEFAULT_MODEL
        body = {"object": "list", "data": data, "model": model, "usage": usage}
        return Reply(json=body, **reply_args)

    return render


def _last_user_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    value = body.get("input") or body.get("prompt")
    return value if isinstance(value, str) else ""


def default_reply(request: RecordedRequest) -> Reply:
    """What an unscripted request gets: an echo of the last user text on each known endpoint."""
    path = request.path.removeprefix("/v1")
    echo = f"echo: {_last_user_text(request.body)}"
    if path.endswith("chat/completions"):
        return chat(echo)(request)
    if path.endswith("/responses"):
        return responses(echo)(request)
    if path.endswith("/completions"):
        return completion(echo)(request)
    if path.endswith("/embeddings"):
        return embeddings()(request)
    return error(404, f"fake server has no route {request.path}", kind="not_found")


class FakeOpenAI(BackgroundServer):
    """The server; runs uvicorn in a daemon thread on a free 127.0.0.1 port."""

    name = "fake-openai"

    def __init__(self, handler: Callable[[RecordedRequest], Reply | None] | None = None) -> None:
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST", "DELETE"])])
        self.app = app

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def enqueue(self, *scripts: Script) -> None:
        with self._lock:
            self._queue.extend(scripts)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            script = self._queue.popleft() if self._queue else None
        if script is None and self.handler is not None:
            script = self.handler(request)
        if script is None:
            return default_reply(request)
        return script(request) if callable(script) else script

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), body)
        with self._lock:
            self.requests.append(recorded)
        reply = self._next_reply(recorded)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.events is None:
            return JSONResponse(reply.json, status_code=reply.status, headers=reply.headers)

        async def sse() -> AsyncIterator[bytes]:
            for event in reply.events or ():
                yield f"data: {json.dumps(event)}\n\n".encode()
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
            if reply.done_marker:
                yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), status_code=reply.status, media_type="text/event-stream",
                                 headers=reply.headers)
