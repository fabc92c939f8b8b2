"""Render an Alert for people (email text, Slack) and for machines (generic JSON webhook).

Every text says which monitor and metric, the value against its target, the window in UTC and
how to open the worst samples (``llmsight trace <trace_id>``), because the person reading it
is usually on a phone and should not have to open Grafana to know whether to act. Values that
come from users or models (monitor names, judge reasons) are flattened to one line, truncated,
and escaped for Slack so they cannot add headers, mentions (``<!channel>``) or links.
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from datetime import datetime, timezone
from typing import Any

from llmsight.monitors.notify.alert import Alert, WorstSample

__all__ = ["json_body", "slack_body", "subject", "text_body"]

REASON_LIMIT = 200
SHOWN_SAMPLES = 10  # more would bury the summary; the JSON body carries all of them
SLACK_SAMPLES = 5  # a Slack section holds 3000 characters
_CONTROL = re.compile(r"[\x00-\x1f\x7f\s]+")


def iso_utc(dt: datetime, *, seconds: bool = False) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, e.g. ``2025-01-08T00:00:00Z``."""
    text = dt.astimezone(timezone.utc).isoformat(timespec="seconds" if seconds else "auto")
    return text.replace("+00:00", "Z")


def _one_line(text: str, limit: int | None = None) -> str:
    text = _CONTROL.sub(" ", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "no value"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _duration(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    if not days:
        parts.append(f"{minutes}m")
    return " ".join(parts)


def _filters(alert: Alert) -> str:
    if not alert.filters:
        return "none (all services, environments and models)"
    return ", ".join(f"{_one_line(k)}={_one_line(v)}" for k, v in sorted(alert.filters.items()))


def _headline(alert: Alert) -> str:
    return (
        f"{_one_line(alert.metric)} {_one_line(alert.statistic)} {_number(alert.value)} "
        f"(target {alert.comparison} {_number(alert.target)})"
    )


def subject(alert: Alert) -> str:
    """One line: what happened, to which monitor, and the number that decided it."""
    kind = "Violation" if alert.kind == "violation" else "Resolved"
    return f"[llmsight] {kind}: {_one_line(alert.monitor, 100)}: {_headline(alert)}"


def _since(alert: Alert) -> str | None:
    if alert.first_violation_at is None:
        return None
    elapsed = (alert.run_at - alert.first_violation_at).total_seconds()
    return f"{iso_utc(alert.first_violation_at, seconds=True)} (for {_duration(elapsed)})"


def _sample_line(sample: WorstSample) -> str:
    score = "no score" if sample.score is None else f"score {_number(sample.score)}"
    reason = _one_line(sample.reason, REASON_LIMIT) or "(no reason given)"
    return f"{score}: {reason}"


def _facts(alert: Alert) -> list[tuple[str, str]]:
    facts = [
        ("Monitor", _one_line(alert.monitor)),
        ("Signal", _one_line(alert.signal)),
        ("Metric", _one_line(alert.metric)),
        ("Statistic", _one_line(alert.statistic)),
        ("Value", f"{_number(alert.value)} (target {alert.comparison} {_number(alert.target)})"),
        ("Window", f"{iso_utc(alert.window_start, seconds=True)} to {iso_utc(alert.window_end, seconds=True)} (UTC)"),
        ("Samples", str(alert.sample_count)),
        ("Filters", _filters(alert)),
        ("Run at", iso_utc(alert.run_at, seconds=True)),
    ]
    since = _since(alert)
    if since:
        facts.append(("In violation since", since))
    return facts


def _paragraph(text: str) -> str:
    # Mail clients show plain text as sent; 76 columns read well on a phone and a terminal alike.
    return textwrap.fill(text, width=76, break_long_words=False, break_on_hyphens=False)


def text_body(alert: Alert) -> str:
    """The plain-text email body."""
    monitor = _one_line(alert.monitor)
    if alert.kind == "violation":
        lines = [
            f'Violation: monitor "{monitor}" missed its target.',
            "",
            _paragraph(
                f"This run's {_one_line(alert.statistic)} of {_one_line(alert.metric)} over the lookback window is "
                f"{_number(alert.value)}; the target is {alert.comparison} {_number(alert.target)}. A violation is one "
                "monitor run whose computed value misses its target; a single call scoring below the per-call "
                "threshold is a failing answer, not a violation."
            ),
        ]
    else:
        lines = [
            f'Resolved: monitor "{monitor}" is back within its target.',
            "",
            _paragraph(
                f"This run's {_one_line(alert.statistic)} of {_one_line(alert.metric)} is {_number(alert.value)}, "
                f"meeting the target {alert.comparison} {_number(alert.target)}. The violation has cleared."
            ),
        ]
        since = _since(alert)
        if since:
            lines.append(f"It had been in violation since {since}.")
    lines.append("")
    width = max(len(label) for label, _ in _facts(alert)) + 2
    lines += [f"{label + ':':<{width}}{value}" for label, value in _facts(alert)]
    if alert.worst:
        lines += ["", "Worst samples (lowest scores in the window; open one with the command below it):"]
        for number, sample in enumerate(alert.worst[:SHOWN_SAMPLES], start=1):
            lines.append(f"  {number}. {_sample_line(sample)}")
            lines.append(f"     llmsight trace {_one_line(sample.trace_id)}")
        if len(alert.worst) > SHOWN_SAMPLES:
            lines.append(f"  ... and {len(alert.worst) - SHOWN_SAMPLES} more")
    lines += ["", "-- ", "Sent by llmsight monitors."]
    return "\n".join(lines) + "\n"


def _json_float(value: float | None) -> float | None:
    # NaN and infinity are not JSON; receivers would reject the whole body.
    return value if value is not None and math.isfinite(value) else None


def json_body(alert: Alert) -> dict[str, Any]:
    """The generic webhook body: every Alert field (datetimes ISO 8601 UTC), plus ``text`` and ``source``."""
    body = dataclasses.asdict(alert)
    for name in ("window_start", "window_end", "run_at", "first_violation_at"):
        value = getattr(alert, name)
        body[name] = iso_utc(value) if value is not None else None
    body["value"] = _json_float(alert.value)
    body["filters"] = dict(alert.filters)
    body["worst"] = [{**dataclasses.asdict(s), "score": _json_float(s.score)} for s in alert.worst]
    body["text"] = subject(alert)
    body["source"] = "llmsight"
    return body


def slack_escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters (mentions, links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def slack_body(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``text`` (the notification preview) and mrkdwn ``blocks``."""
    title = "Violation" if alert.kind == "violation" else "Resolved"
    icon = ":rotating_light:" if alert.kind == "violation" else ":white_check_mark:"
    monitor = slack_escape(_one_line(alert.monitor, 150))
    summary = f"{icon} *{title}* of monitor *{monitor}*\n{slack_escape(_headline(alert))}"
    if alert.kind == "resolved":
        summary += "\nThe violation has cleared."
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(summary)},
        {
            "type": "section",
            # Slack allows at most 10 fields; monitor and value are already in the summary.
            "fields": [_mrkdwn(f"*{label}*\n{slack_escape(value)}") for label, value in _facts(alert)[1:]][:10],
        },
    ]
    if alert.worst:
        lines = ["*Worst samples*"]
        for sample in alert.worst[:SLACK_SAMPLES]:
            trace_id = slack_escape(_one_line(sample.trace_id)).replace("`", "'")
            lines.append(f"• {slack_escape(_sample_line(sample))}\n   `llmsight trace {trace_id}`")
        if len(alert.worst) > SLACK_SAMPLES:
            lines.append(f"… and {len(alert.worst) - SLACK_SAMPLES} more")
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
    return {"text": slack_escape(subject(alert)), "blocks": blocks}
