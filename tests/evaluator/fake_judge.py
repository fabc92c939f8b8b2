"""A judge endpoint for tests: the shared fake OpenAI server, routed by what the judge is asked.

Worker runs are concurrent, so replies are scripted per marker text found in the user message
(``judge.when("CASE-429", error(429, ...), reply_json(4))``) rather than by arrival order: the
n-th request containing the marker gets the n-th script, the last one repeating.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

try:
    from tests.fake_openai import FakeOpenAI, RecordedRequest, Reply, chat, error
except ImportError:  # tests/ itself on sys.path (pytest rootdir-relative import)
    from fake_openai import FakeOpenAI, RecordedRequest, Reply, chat, error  # type: ignore[no-redef]

__all__ = ["FakeJudge", "Reply", "chat", "error", "reply_json", "reply_logprobs", "reply_verdict", "user_text"]

Script = Reply | Callable[[RecordedRequest], Reply]


def reply_json(score: int, reasoning: str = "scripted reasoning", **kwargs: Any) -> Callable[[RecordedRequest], Reply]:
    return chat(json.dumps({"reasoning": reasoning, "score": score}), usage=(120, 30), **kwargs)


def reply_verdict(
    verdict: str, category: str = "none", reasoning: str = "scripted"
) -> Callable[[RecordedRequest], Reply]:
    """A binary metric's JSON reply: ``verdict`` is "pass" or "fail"."""
    return chat(json.dumps({"reasoning": reasoning, "verdict": verdict, "category": category}), usage=(120, 30))


def reply_logprobs(score: int, probs: dict[str, float]) -> Callable[[RecordedRequest], Reply]:
    """A JSON reply whose score token carries ``top_logprobs`` with the given probabilities."""
    import math

    def render(request: RecordedRequest) -> Reply:
        content = json.dumps({"reasoning": "ok", "score": score})
        tokens = [{"token": '{"reasoning": "ok", "score": ', "logprob": -0.01, "bytes": None, "top_logprobs": []}]
        tops = [{"token": t, "logprob": math.log(p), "bytes": None} for t, p in probs.items()]
        tokens.append({"token": str(score), "logprob": math.log(probs.get(str(score), 0.5)), "bytes": None,
                       "top_logprobs": tops})
        tokens.append({"token": "}", "logprob": 0.0, "bytes": None, "top_logprobs": []})
        body = {
            "id": "chatcmpl-lp", "object": "chat.completion", "created": 1, "model": request.body["model"],
            "usage": {"prompt_tokens": 100, "completion_tokens": 12, "total_tokens": 112},
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": {"content": tokens, "refusal": None}}],
        }
        return Reply(json=body)

    return render


def user_text(request: RecordedRequest) -> str:
    messages = (request.body or {}).get("messages") or []
    return "\n".join(m.get("content", "") for m in messages if m.get("role") == "user")


class FakeJudge(FakeOpenAI):
    def __init__(self, default: Script | None = None) -> None:
        super().__init__(handler=self._route)
        self.default: Script = default or reply_json(4)
        self._rules: list[tuple[str, list[Script]]] = []
        self._rule_lock = threading.Lock()

    def when(self, marker: str, *scripts: Script) -> None:
        with self._rule_lock:
            self._rules.append((marker, list(scripts)))

    def _route(self, request: RecordedRequest) -> Reply:
        text = user_text(request)
        with self._rule_lock:
            for marker, scripts in self._rules:
                if marker in text:
                    script = scripts.pop(0) if len(scripts) > 1 else scripts[0]
                    break
            else:
                script = self.default
        return script(request) if callable(script) else script

    def requests_with(self, marker: str) -> list[RecordedRequest]:
        return [r for r in self.requests if marker in user_text(r)]
