"""Read a binary (pass / fail) metric's judge reply: the verdict, its reasoning and the category named.

Kept apart from ``judge.py``'s 1-5 parsing because the failure modes differ: a verdict judge must not
be read as passing when its reply is unclear (an unreadable reply is a ``parse_error``, never a pass),
and a category outside the rubric's list is kept as ``other`` rather than stored as free text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmsight.evaluator.prompt import VERDICT_MARKER

PASS, FAIL = 1, 0
_WORDS = {"pass": PASS, "passed": PASS, "fail": FAIL, "failed": FAIL}


def verdict_schema(categories: tuple[str, ...]) -> dict[str, Any]:
    """The json_schema response format for a binary metric (category only when the rubric names some)."""
    properties: dict[str, Any] = {
        "reasoning": {"type": "string"},
        "verdict": {"type": "string", "enum": ["pass", "fail"]},
    }
    if categories:
        properties["category"] = {"type": "string", "enum": [*categories, "none"]}
    return {
        "name": "judge_verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        },
    }


def _category(raw: Any, categories: tuple[str, ...]) -> str:
    name = str(raw or "").strip().lower().replace("-", "_").replace(" ", "_")
    if not name or name == "none" or not categories:
        return ""
    return name if name in categories else "other"


def _from_obj(obj: Any, categories: tuple[str, ...]) -> tuple[int | None, str, str]:
    if not isinstance(obj, dict):
        return None, "", ""
    raw = obj.get("verdict", obj.get("result"))
    if isinstance(raw, bool):
        value: int | None = PASS if raw else FAIL
    else:
        value = _WORDS.get(str(raw or "").strip().lower())
    if value is None:
        return None, "", ""
    reasoning = str(obj.get("reasoning") or obj.get("explanation") or "")
    return value, reasoning, _category(obj.get("category"), categories) if value == FAIL else ""


def parse_verdict(text: str, categories: tuple[str, ...] = ()) -> tuple[int | None, str, str]:
    """(1 pass / 0 fail / None unreadable, reasoning, category of a fail) from a judge reply.

    JSON first (the whole reply, else the last JSON object in it), else the LAST ``verdict:`` marker in
    prose, as for scores: judges restate the options before concluding.
    """
    body = (text or "").strip()
    if body.startswith("```"):
        body = re.sub(r"^```[a-zA-Z]*\s*|\s*```$", "", body).strip()
    candidates = [body, *reversed(re.findall(r"\{[^{}]*\}", body))]
    for candidate in candidates:
        try:
            found = _from_obj(json.loads(candidate), categories)
        except (ValueError, TypeError):
            continue
        if found[0] is not None:
            return found
    matches = list(VERDICT_MARKER.finditer(body))
    if matches:
        value = _WORDS[matches[-1].group(1).lower()]
        category = ""
        if value == FAIL:
            named = re.findall(r"(?i)\bcategory\b[\s\"'*:=]*([a-z_-]+)", body)
            category = _category(named[-1], categories) if named else ""
        return value, body, category
    return None, "", ""
