"""Built-in redaction of secrets and personal data in captured content, before it leaves the process."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
# 13-19 digits, optionally grouped by spaces or dashes; Luhn-checked before redacting.
CARD_NUMBER = r"\b(?:\d[ -]?){12,18}\d\b"
API_KEY = (
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abpr]-[A-Za-z0-9-]{10,}"
    r"|AIza[0-9A-Za-z_-]{35})"
)

PATTERNS: dict[str, str] = {"email": EMAIL, "card": CARD_NUMBER, "api_key": API_KEY}
REPLACEMENTS: dict[str, str] = {
    "email": "[REDACTED_EMAIL]",
    "card": "[REDACTED_CARD]",
    "api_key": "[REDACTED_API_KEY]",
}


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def builtin_redactor(names: Iterable[str] = ("email", "card", "api_key")) -> Callable[[str], str]:
    """One compiled alternation for all chosen patterns, so each text is scanned once."""
    chosen = [n for n in names if n in PATTERNS]
    if not chosen:
        raise ValueError(f"unknown redaction patterns: {list(names)!r}; known: {sorted(PATTERNS)}")
    regex = re.compile("|".join(f"(?P<{n}>{PATTERNS[n]})" for n in chosen))

    def replace(match: re.Match[str]) -> str:
        kind = match.lastgroup or ""
        if kind == "card":
            digits = re.sub(r"\D", "", match.group(0))
            if not _luhn_ok(digits):
                return match.group(0)
        return REPLACEMENTS.get(kind, "[REDACTED]")

    def redact(text: str) -> str:
        return regex.sub(replace, text)

    return redact


def make_redactor(
    spec: bool | str | Iterable[str] | Callable[[str], str] | None,
) -> Callable[[str], str] | None:
    """Turn the ``redact=`` argument into one callable (or None when nothing is to be redacted).

    ``True`` or ``"builtin"`` selects all built-in patterns, a list of names selects some of them,
    a callable is used as is (it receives each text and returns its replacement).
    """
    if spec is None or spec is False:
        return None
    if spec is True or spec == "builtin":
        return builtin_redactor()
    if callable(spec):
        return spec
    if isinstance(spec, str):
        return builtin_redactor([s.strip() for s in spec.split(",") if s.strip()])
    return builtin_redactor(list(spec))
