"""Turn an ``llm_calls`` row into what a judge needs: question, conversation, answer, context, reference.

Everything here is defensive about JSON: messages come from many instrumentations, and a
malformed attribute must make a metric ``not_applicable``, never crash the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Long inputs are cut so one huge prompt cannot blow the judge's context or the budget.
MAX_FIELD_CHARS = 12_000
MAX_CONTEXT_CHARS = 24_000
MAX_TURNS = 12

# The inputs a metric may declare, in the order the judge is shown them, with their section titles:
# earlier turns and evidence first, then the question and the reference, and the answer being judged
# last. One fixed order (rather than each rubric's own) keeps every metric's prompt laid out alike.
INPUT_TITLES: dict[str, str] = {
    "conversation": "CONVERSATION",
    "context": "CONTEXT",
    "question": "QUESTION",
    "ground_truth": "GROUND TRUTH",
    "answer": "ANSWER",
}


@dataclass(frozen=True)
class EvalInputs:
    question: str = ""
    answer: str = ""
    context: list[str] = field(default_factory=list)
    ground_truth: str = ""
    conversation: list[tuple[str, str]] = field(default_factory=list)  # earlier (role, text) turns
    system: str = ""

    def has(self, name: str) -> bool:
        value = getattr(self, name)
        if isinstance(value, str):
            return bool(value.strip())
        return any(str(v).strip() for v in value)

    def missing(self, required: Sequence[str]) -> list[str]:
        return [name for name in required if not self.has(name)]


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} characters cut]"


def _loads(raw: str) -> Any:
    if not raw or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return None


def message_text(message: Mapping[str, Any]) -> str:
    """Text of one message in either the semconv ``parts`` shape or the OpenAI ``content`` shape."""
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [str(p.get("content", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(t for t in texts if t)
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("text"))
    return ""


def parse_messages(raw: str) -> list[tuple[str, str]]:
    data = _loads(raw)
    if not isinstance(data, list):
        return []
    out = []
    for m in data:
        if isinstance(m, dict):
            text = message_text(m)
            if text:
                out.append((str(m.get("role", "user")), text))
    return out


def parse_documents(raw: str | list[Any] | None) -> list[str]:
    """Context documents: a JSON array of strings or ``{"id", "content"}`` objects; plain text is one doc."""
    if raw is None:
        return []
    data: Any = raw if isinstance(raw, list) else _loads(raw)
    if data is None:
        return [raw] if isinstance(raw, str) and raw.strip() else []
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return [str(data)]
    docs = []
    for d in data:
        if isinstance(d, str):
            text = d
        elif isinstance(d, dict):
            text = str(d.get("content") or d.get("text") or d.get("page_content") or "")
            if d.get("id") and text:
                text = f"[{d['id']}] {text}"
        else:
            text = str(d)
        if text.strip():
            docs.append(text)
    return docs


def _system_text(raw: str) -> str:
    data = _loads(raw)
    if isinstance(data, list):
        return "\n".join(str(p.get("content", "")) if isinstance(p, dict) else str(p) for p in data).strip()
    if isinstance(data, str):
        return data
    return raw or ""


def build_inputs(row: Mapping[str, Any], retrieved: Sequence[str] = ()) -> EvalInputs:
    """Inputs for one call. ``retrieved`` are documents of retrieval spans that preceded it in its trace,
    used only when the call itself recorded no ``ContextDocuments``."""
    messages = parse_messages(str(row.get("InputMessages") or ""))
    question = str(row.get("Prompt") or "")
    if not question:
        users = [text for role, text in messages if role == "user"]
        question = users[-1] if users else ""
    # Earlier turns (everything before the last user message), so relevance can resolve "it"/"that".
    conversation: list[tuple[str, str]] = []
    last_user = max((i for i, (role, _) in enumerate(messages) if role == "user"), default=-1)
    if last_user > 0:
        conversation = [(r, _clip(t, 2000)) for r, t in messages[:last_user] if r != "system"][-MAX_TURNS:]
    answer = str(row.get("Completion") or "")
    if not answer:
        answer = "\n".join(t for _, t in parse_messages(str(row.get("OutputMessages") or "")))
    docs = parse_documents(str(row.get("ContextDocuments") or "")) or [d for d in retrieved if d.strip()]
    context: list[str] = []
    budget = MAX_CONTEXT_CHARS
    for doc in docs:
        if budget <= 0:
            break
        context.append(_clip(doc, budget))
        budget -= len(doc)
    return EvalInputs(
        question=_clip(question),
        answer=_clip(answer),
        context=context,
        ground_truth=_clip(str(row.get("GroundTruth") or "")),
        conversation=conversation,
        system=_clip(_system_text(str(row.get("SystemInstructions") or "")), 4000),
    )
