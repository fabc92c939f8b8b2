"""Redaction: replace personal data and secrets in message content before it is stored.

Applies to every sender, whatever its instrumentation. Patterns are built-ins (``email``,
``phone``, ``card``, ``api_key``) or custom ``re:REGEX`` entries; they run over the content
attributes (messages, prompts, completions, context, ground truth, retrieval text), any
extra attribute keys configured, and log bodies. Each replacement is counted in ``/metrics``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llmsight.collector.otlp_rows import Rows
from llmsight.collector.telemetry import Telemetry

BUILT_IN: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"(?<![\w+])\+?\d{1,3}[\s.-]?\(?\d{2,4}\)?[\s.-]?\d{3,4}[\s.-]?\d{3,4}(?!\w)",
    "card": r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)",
    "api_key": r"\b(?:sk-[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[baprs]-[A-Za-z0-9-]{10,})\b",
}

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.retrieval.query.text",
    "gen_ai.retrieval.documents",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "llmsight.context.documents",
    "llmsight.ground_truth",
    # OpenInference: the raw request and response, and the prompts of legacy completions
    "input.value",
    "output.value",
    "llm.prompts",
)
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",  # OpenInference messages, their tool calls and tool results
    "llm.output_messages.",
    "retrieval.documents.",
    "reranker.",
)
CONTENT_SUFFIXES = (".embedding.text",)  # OpenInference embedding inputs (not the vectors beside them)


def compile_patterns(spec: str) -> list[tuple[str, re.Pattern[str]]]:
    """``email,card,re:ORDER-\\d+`` -> named patterns; an unknown name is an error the user sees."""
    patterns = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item.startswith("re:"):
            try:
                patterns.append(("custom", re.compile(item[3:])))
            except re.error as exc:
                raise ValueError(f"invalid redaction regex {item[3:]!r}: {exc}") from None
        elif item in BUILT_IN:
            patterns.append((item, re.compile(BUILT_IN[item])))
        elif item == "all":
            patterns.extend((name, re.compile(rx)) for name, rx in BUILT_IN.items())
        else:
            raise ValueError(f"unknown redaction pattern {item!r}: use {', '.join(BUILT_IN)}, all, or re:REGEX")
    return patterns


def redaction_processor(spec: str, extra_keys: str, telemetry: Telemetry) -> Callable[[str, Rows], None] | None:
    patterns = compile_patterns(spec)
    if not patterns:
        return None
    keys = set(CONTENT_KEYS) | {k.strip() for k in extra_keys.split(",") if k.strip()}

    def redact_text(text: str) -> tuple[str, int]:
        total = 0
        for name, pattern in patterns:
            text, n = pattern.subn(f"[REDACTED:{name}]", text)
            total += n
        return text, total

    def process(table: str, rows: Rows) -> None:
        count = 0
        if table == "otel_traces":
            for attributes in rows.data[rows.columns.index("SpanAttributes")]:
                for key, value in attributes.items():
                    if key in keys or key.startswith(CONTENT_PREFIXES) or key.endswith(CONTENT_SUFFIXES):
                        attributes[key], n = redact_text(value)
                        count += n
            for events in rows.data[rows.columns.index("Events.Attributes")]:
                for attributes in events:
                    for key, value in attributes.items():
                        if key in keys or key.startswith(CONTENT_PREFIXES) or key.endswith(CONTENT_SUFFIXES):
                            attributes[key], n = redact_text(value)
                            count += n
        elif table == "otel_logs":
            bodies = rows.data[rows.columns.index("Body")]
            for i, body in enumerate(bodies):
                bodies[i], n = redact_text(body)
                count += n
        if count:
            telemetry.add("llmsight_redactions_total", count)

    return process
