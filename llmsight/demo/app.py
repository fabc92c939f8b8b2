"""The demo's RAG app: keyword retrieval over the knowledge base, then one chat completion per question.

Written the way an instrumented app would be: ``@llmsight.trace`` around each request,
``llmsight.retrieval`` around the search, ``llmsight.context`` carrying the documents, the
reference answer, the session and the user. Model errors are caught and counted; the app goes on.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import openai

import llmsight
from llmsight.demo import knowledge
from llmsight.demo.model import APP_MODEL

CLIENT_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Request:
    question: knowledge.Question
    user_id: str
    session_id: str
    stream: bool


def traffic(n: int, seed: int = 11) -> Iterator[Request]:
    """``n`` requests from a dozen users in short sessions; about a third streamed."""
    rng = random.Random(seed)
    users = [f"user-{i:02d}" for i in range(1, 13)]
    made = session_no = 0
    while made < n:
        session_no += 1
        user = rng.choice(users)
        for _ in range(min(rng.randint(1, 5), n - made)):
            yield Request(rng.choice(knowledge.QUESTIONS), user, f"session-{session_no:04d}", rng.random() < 0.35)
            made += 1


class DemoApp:
    def __init__(self, model_url: str) -> None:
        # No retries: a failed call should show as a failed call in the demo's data.
        self.client = openai.OpenAI(base_url=model_url, api_key="demo", timeout=CLIENT_TIMEOUT_S, max_retries=0)
        self.errors: Counter[str] = Counter()
        self.ok = 0
        self.streamed = 0
        self._lock = threading.Lock()  # handle() may run in several threads

    def handle(self, request: Request) -> str | None:
        """Answer one request; a model error is counted and gives ``None``."""
        failure = ""
        try:
            text = self.answer(request.question, request.user_id, request.session_id, request.stream)
        except openai.APIStatusError as exc:
            failure = f"HTTP {exc.status_code}"
        except openai.APITimeoutError:
            failure = "timeout"
        except openai.APIConnectionError:
            failure = "connection"
        with self._lock:
            if failure:
                self.errors[failure] += 1
                return None
            self.ok += 1
            self.streamed += request.stream
        return text

    @llmsight.trace("answer question")
    def answer(self, question: knowledge.Question, user_id: str, session_id: str, stream: bool = False) -> str:
        with llmsight.retrieval(question.text, data_source="demo-kb") as found:
            time.sleep(0.002)  # a vector search would take a moment
            docs = knowledge.search(question.text)
            found.set_documents([{"id": d.id, "content": d.text} for d in docs])
        context = "\n\n".join(f"[{d.title}]\n{d.text}" for d in docs)
        messages = [
            {"role": "system", "content": knowledge.SYSTEM_PROMPT + context},
            {"role": "user", "content": question.text},
        ]
        with llmsight.context(
            documents=[d.text for d in docs],
            ground_truth=question.ground_truth or None,
            session_id=session_id,
            user_id=user_id,
        ):
            if not stream:
                response = self.client.chat.completions.create(model=APP_MODEL, messages=messages, temperature=0.2)
                return response.choices[0].message.content or ""
            chunks = self.client.chat.completions.create(
                model=APP_MODEL,
                messages=messages,
                temperature=0.2,
                stream=True,
                stream_options={"include_usage": True},
            )
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
