"""The demo app as an experiment's target: ``llmsight eval run ... --target llmsight.demo.eval_target:answer``.

Answers a question the way the demo's RAG app does (keyword retrieval over the built-in knowledge
base, then one chat completion), against the built-in model started in this process on first use.
For an experiment the model is deterministic: a question always gets the same answer (most
grounded, some invented, a few off-topic; no failures), so two runs of the same app agree and a
worse app shows as a regression. No API key, no network: what the CI example runs.
"""

from __future__ import annotations

import atexit
import threading

import openai

import llmsight
from llmsight.demo import knowledge
from llmsight.demo.model import APP_MODEL, DemoModelServer

EVAL_MIX = (("grounded", 0.85), ("ungrounded", 0.10), ("off_topic", 0.05))

_lock = threading.Lock()
_client: openai.OpenAI | None = None


def client() -> openai.OpenAI:
    """An OpenAI client on the built-in model, started once per process."""
    global _client
    with _lock:
        if _client is None:
            server = DemoModelServer(latency_s=(0.002, 0.002), mix=EVAL_MIX).start()
            atexit.register(server.stop)
            _client = openai.OpenAI(base_url=server.base_url, api_key="demo", max_retries=0, timeout=10)
        return _client


def answer_with(question: str, docs: list[knowledge.Document]) -> str:
    """One chat completion over ``docs``, with the documents recorded as the call's context."""
    context = "\n\n".join(f"[{d.title}]\n{d.text}" for d in docs)
    messages = [
        {"role": "system", "content": knowledge.SYSTEM_PROMPT + context},
        {"role": "user", "content": question},
    ]
    with llmsight.context(documents=[d.text for d in docs]):
        response = client().chat.completions.create(model=APP_MODEL, messages=messages, temperature=0.2)
    return response.choices[0].message.content or ""


def answer(question: str) -> str:
    """The demo RAG app: retrieve the three best documents, answer from them."""
    with llmsight.retrieval(question, data_source="demo-kb") as found:
        docs = knowledge.search(question)
        found.set_documents([{"id": d.id, "content": d.text} for d in docs])
    return answer_with(question, docs)
