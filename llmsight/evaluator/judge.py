"""Call the judge model through the openai client and turn its reply into a score.

Why the care: a monitoring job runs unattended against endpoints we do not control. So the
judge asks for structured output but degrades (json_schema -> json_object -> plain text) when
an OpenAI-compatible server rejects it; retries 429/5xx/timeouts with backoff honouring
``Retry-After``; turns credential and model-name mistakes into one fatal error instead of
thousands of failed rows; and never turns an unreadable reply into a made-up score.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmsight.evaluator.prompt import SCORE_MARKER
from llmsight.evaluator.verdict import parse_verdict, verdict_schema

REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
FORMATS = ("json_schema", "json_object", "text")
SCORE_SCHEMA = {
    "name": "judge_score",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
        },
        "required": ["reasoning", "score"],
        "additionalProperties": False,
    },
}


class JudgeFatalError(RuntimeError):
    """The judge cannot work at all (bad key, no access, unknown model): stop the run, tell the person."""

    summary: Any = None  # the RunSummary of the run it ended, when raised out of worker.run_once


@dataclass
class JudgeResult:
    status: str  # "ok" | "parse_error" | "judge_error"
    score: int | None = None  # 1-5, or 1 pass / 0 fail for a binary metric
    weighted: float | None = None
    reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    attempts: int = 1
    category: str = ""  # a binary metric's category for a fail (e.g. "violence")


def is_reasoning_model(model: str) -> bool:
    """o-series and gpt-5 models reject temperature and max_tokens, and reason before answering."""
    name = model.rsplit("/", 1)[-1].lower()
    return name.startswith(REASONING_PREFIXES)


def _strip_fences(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = re.sub(r"^```[a-zA-Z]*\s*", "", text)
        text = re.sub(r"\s*```$", "", text)
    return text.strip()


def _score_from_obj(obj: Any) -> tuple[int | None, str]:
    if not isinstance(obj, dict) or "score" not in obj:
        return None, ""
    raw = obj["score"]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, ""
    if value != int(value) or not 1 <= value <= 5:
        return None, ""
    return int(value), str(obj.get("reasoning") or obj.get("explanation") or "")


def parse_reply(text: str) -> tuple[int | None, str]:
    """(score, reasoning) from a judge reply: JSON first, else the LAST score marker in prose.

    The last marker wins because judges often restate the scale ("a score: 5 would mean...")
    before concluding.
    """
    body = _strip_fences(text or "")
    try:
        score, reasoning = _score_from_obj(json.loads(body))
        if score is not None:
            return score, reasoning
    except (ValueError, TypeError):
        pass
    for candidate in reversed(re.findall(r"\{[^{}]*\}", body)):
        try:
            score, reasoning = _score_from_obj(json.loads(candidate))
        except (ValueError, TypeError):
            continue
        if score is not None:
            return score, reasoning
    matches = list(SCORE_MARKER.finditer(body))
    if matches:
        return int(matches[-1].group(1)), body
    return None, ""


def weighted_score(logprobs: Any) -> float | None:
    """G-Eval style expectation over the score token: sum(p(d) * d) / sum(p(d)) for d in 1..5.

    The score is the last digit token of the reply (reasoning comes first in our format).
    """
    tokens = getattr(logprobs, "content", None) or []
    for tok in reversed(tokens):
        if tok.token.strip(" \"'*") in {"1", "2", "3", "4", "5"}:
            probs: dict[int, float] = {}
            alternatives = getattr(tok, "top_logprobs", None) or [tok]
            for alt in alternatives:
                digit = alt.token.strip(" \"'*")
                if digit in {"1", "2", "3", "4", "5"}:
                    probs[int(digit)] = probs.get(int(digit), 0.0) + math.exp(alt.logprob)
            total = sum(probs.values())
            if total <= 0:
                return None
            return sum(d * p for d, p in probs.items()) / total
    return None


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


@lru_cache(maxsize=32)
def judge_prices(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens for the judge model; (0, 0) when unknown (e.g. local)."""
    try:
        from llmsight.store.prices import find_price

        match = find_price("openai", model)
    except Exception:
        return 0.0, 0.0
    return (match[2], match[3]) if match else (0.0, 0.0)


def judge_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    price_in, price_out = judge_prices(model)
    return (input_tokens * price_in + output_tokens * price_out) / 1e6


class HourlyCap:
    """At most ``limit`` judge calls in any sliding hour (0 = unlimited); protects the bill."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        if self.limit <= 0:
            return True
        with self._lock:
            now = self._clock()
            while self._calls and now - self._calls[0] >= 3600:
                self._calls.popleft()
            if len(self._calls) >= self.limit:
                return False
            self._calls.append(now)
            return True

    def remaining(self) -> int | None:
        if self.limit <= 0:
            return None
        with self._lock:
            now = self._clock()
            return self.limit - sum(1 for t in self._calls if now - t < 3600)


class Judge:
    """One judge endpoint + model. Thread-safe: the worker calls ``score`` from a thread pool."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        score_mode: str = "integer",
        max_output_tokens: int = 400,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if score_mode not in ("integer", "weighted"):
            raise ValueError("score_mode must be 'integer' or 'weighted'")
        self.model = model
        self.base_url = base_url or ""
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.score_mode = score_mode
        self.reasoning = is_reasoning_model(model)
        self.max_output_tokens = max_output_tokens if not self.reasoning else max(max_output_tokens, 4000)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._format_level = 0
        self._logprobs = score_mode == "weighted" and not self.reasoning
        if client is None:
            from openai import OpenAI

            client = OpenAI(
                api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
                base_url=base_url or None,
                timeout=timeout_s,
                max_retries=0,  # we retry ourselves, honouring Retry-After and counting attempts
            )
        self.client = client

    @property
    def response_format(self) -> str:
        return FORMATS[self._format_level]

    def request_kwargs(
        self, messages: list[dict], scale: str = "1-5", categories: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.reasoning:
            kwargs["max_completion_tokens"] = self.max_output_tokens
        else:
            kwargs["temperature"] = 0
            kwargs["max_tokens"] = self.max_output_tokens
        fmt = self.response_format
        if fmt == "json_schema":
            schema = verdict_schema(categories) if scale == "binary" else SCORE_SCHEMA
            kwargs["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif fmt == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        if self._logprobs and scale != "binary":
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = 5
        return kwargs

    def _downgrade(self, used_level: int, message: str) -> bool:
        """After a 400: drop logprobs if that is what was rejected, else a simpler response format."""
        with self._lock:
            if self._logprobs and "logprob" in message.lower():
                self._logprobs = False
                return True
            if self._format_level != used_level:  # another thread already downgraded
                return True
            if self._format_level < len(FORMATS) - 1:
                self._format_level += 1
                return True
            return False

    def _fatal(self, exc: Exception, status: int) -> JudgeFatalError:
        where = self.base_url or "api.openai.com"
        detail = _error_detail(exc)
        if status == 401:
            return JudgeFatalError(
                f"the judge endpoint {where} rejected the API key (401: {detail}); "
                "set LLMSIGHT_JUDGE_API_KEY (or OPENAI_API_KEY) to a valid key"
            )
        if status == 403:
            return JudgeFatalError(
                f"the judge endpoint {where} refused access (403: {detail}); "
                f"check that the key may use model {self.model!r}"
            )
        return JudgeFatalError(
            f"judge model {self.model!r} was not found at {where} (404: {detail}); "
            "check LLMSIGHT_JUDGE_MODEL / --judge-model and LLMSIGHT_JUDGE_BASE_URL"
        )

    def score(self, messages: list[dict], scale: str = "1-5", categories: tuple[str, ...] = ()) -> JudgeResult:
        """One judgement. ``scale`` is the metric's (``1-5`` or ``binary``); a binary reply is read as a
        verdict (score 1 pass / 0 fail) with one of ``categories`` for a fail."""
        import openai

        attempt = 0
        while True:
            level = self._format_level
            kwargs = self.request_kwargs(messages, scale, categories)
            started = time.perf_counter()
            try:
                response = self.client.chat.completions.create(**kwargs, timeout=self.timeout_s)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403, 404):
                    raise self._fatal(exc, status) from None
                if status in (400, 422):
                    if self._downgrade(level, _error_detail(exc)):
                        continue
                    return JudgeResult(
                        "judge_error",
                        reason=f"judge rejected the request ({status}): {_error_detail(exc)}",
                        attempts=attempt + 1,
                    )
                if status in (408, 409, 429) or status >= 500:
                    if attempt >= self.max_retries:
                        return JudgeResult(
                            "judge_error",
                            reason=f"judge returned {status} after {attempt + 1} attempts: {_error_detail(exc)}",
                            attempts=attempt + 1,
                        )
                    self._sleep(self._delay(attempt, _retry_after(exc)))
                    attempt += 1
                    continue
                return JudgeResult(
                    "judge_error", reason=f"judge returned {status}: {_error_detail(exc)}", attempts=attempt + 1
                )
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection failed"
                if attempt >= self.max_retries:
                    return JudgeResult(
                        "judge_error", reason=f"judge {kind} after {attempt + 1} attempts", attempts=attempt + 1
                    )
                self._sleep(self._delay(attempt, None))
                attempt += 1
                continue
            latency_ms = (time.perf_counter() - started) * 1000
            result = self._read(response, scale, categories)
            result.latency_ms = latency_ms
            result.attempts = attempt + 1
            return result

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        base = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return base * (0.75 + random.random() * 0.5)

    def _read(self, response: Any, scale: str = "1-5", categories: tuple[str, ...] = ()) -> JudgeResult:
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        choices = getattr(response, "choices", None) or []
        if not choices:
            return JudgeResult(
                "parse_error", reason="judge reply had no choices", input_tokens=tokens_in, output_tokens=tokens_out
            )
        choice = choices[0]
        content = getattr(choice.message, "content", None) or ""
        if choice.finish_reason == "length":
            return JudgeResult(
                "parse_error",
                reason=f"judge reply truncated (finish_reason=length): {content[:300]}",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
            )
        category = ""
        if scale == "binary":
            score, reasoning, category = parse_verdict(content, categories)
        else:
            score, reasoning = parse_reply(content)
        if score is None:
            refusal = getattr(choice.message, "refusal", None)
            return JudgeResult(
                "parse_error",
                reason=f"no {'verdict' if scale == 'binary' else 'score'} in judge reply: {(refusal or content)[:500]}",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
            )
        weighted = None
        if self.score_mode == "weighted" and scale != "binary":
            weighted = weighted_score(getattr(choice, "logprobs", None))
        return JudgeResult(
            "ok",
            score=score,
            weighted=weighted,
            reason=reasoning[:2000],
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            category=category,
        )


def _error_detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
