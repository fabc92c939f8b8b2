"""The gate's result for machines and people: JSON, JUnit XML (failing rows as failing tests), Markdown.

JUnit has one test per check (a target, a comparison) and one per (row, metric): a row scored
below its threshold is a failure, a row the target or the judge failed on is an error, a metric the
row lacks inputs for is skipped. So a CI system lists the failing rows by id and question.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import Any

from llmsight.experiments.gate import GateResult

MAX_MARKDOWN_ROWS = 20


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_json(result: GateResult) -> dict[str, Any]:
    run = result.run
    return {
        "run": run.name,
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "dataset": {
            "path": run.info["dataset_path"],
            "hash": run.info["dataset_hash"],
            "rows": run.info["dataset_rows"],
        },
        "target": run.info["target"],
        "git_commit": run.info["git_commit"],
        "judge_model": run.info["judge_model"],
        "rubric_versions": json.loads(run.info["rubric_versions"] or "{}"),
        "metrics": {
            m: {**asdict(s), "target": asdict(result.targets[m]) if m in result.targets else None}
            for m, s in result.summaries.items()
        },
        "checks": [asdict(c) for c in result.checks],
        "comparison": asdict(result.comparison) if result.comparison else None,
        "incomplete": [{"row_id": r, "metric": m, "why": why} for r, m, why in result.missing],
        "rows_not_run": result.unanswered,
        "failing_rows": [
            {
                "row_id": s["row_id"],
                "metric": s["metric"],
                "score": s["score"],
                "threshold": s["threshold"],
                "reason": s["reason"],
                "trace_id": s["trace_id"],
            }
            for s in _failing(result)
        ],  # fmt: skip
    }


def _failing(result: GateResult) -> list[dict[str, Any]]:
    return [s for s in result.run.scores if s["status"] == "ok" and not s["passed"]]


_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Text XML 1.0 can hold: an escape sequence in an app's error would make the whole report unreadable."""
    return _NOT_XML.sub("\ufffd", str(text))


def to_junit(result: GateResult) -> str:
    run = result.run
    root = ET.Element("testsuites", name=f"llmsight eval {run.name}")
    checks = ET.SubElement(root, "testsuite", name=f"{run.name}: targets")
    for c in result.checks:
        case = ET.SubElement(
            checks, "testcase", classname=f"llmsight.{c.kind}", name=c.message.split(" ")[0] + f" {c.kind}"
        )
        if c.value is None:
            ET.SubElement(case, "error", message=c.message)
        elif not c.ok:
            ET.SubElement(case, "failure", message=c.message)
    scores = {(s["row_id"], s["metric"]): s for s in run.scores}
    rows = ET.SubElement(root, "testsuite", name=f"{run.name}: rows")
    for row_id, row in sorted(run.rows.items()):
        for metric in run.metrics:
            case = ET.SubElement(rows, "testcase", classname=f"llmsight.rows.{metric}",
                                 name=f"{row_id}: {_short(row['question'])}")  # fmt: skip
            score = scores.get((row_id, metric))
            if row["error"]:
                ET.SubElement(case, "error", message=f"the target failed: {_short(row['error'], 200)}")
            elif score is None:
                ET.SubElement(case, "error", message="not judged")
            elif score["status"] == "not_applicable":
                ET.SubElement(case, "skipped", message=score["reason"])
            elif score["status"] != "ok":
                ET.SubElement(case, "error", message=f"{score['status']}: {_short(score['reason'], 200)}")
            elif not score["passed"]:
                failure = ET.SubElement(
                    case, "failure", message=f"{metric} {score['score']} below threshold {score['threshold']:g}"
                )
                failure.text = f"{score['reason']}\ntrace: {score['trace_id']}"
    for suite in root:
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        for kind in ("failure", "error", "skipped"):
            suite.set(kind + ("s" if kind != "skipped" else ""), str(sum(1 for c in cases if c.find(kind) is not None)))
    for element in root.iter():
        element.attrib.update({k: _xml(v) for k, v in element.attrib.items()})
        if element.text:
            element.text = _xml(element.text)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _num(value: float | None, signed: bool = False) -> str:
    return "n/a" if value is None else (f"{value:+.2f}" if signed else f"{value:.2f}")


# Inside a table cell these are what can make markup: links and images ([ ]), emphasis (* _ ~), code (`),
# the cell's end (|) and the escape itself; CommonMark takes a backslash before any of them as the character.
# "@" is followed by a zero-width space: GitHub finds mentions in the rendered text, so no escape stops them.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _md(text: str) -> str:
    """Text from an app, a dataset or a judge as inert Markdown: no markup, no link, no mention, one line."""
    text = " ".join(html.escape(str(text), quote=False).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("@", "@\u200b")


def _code(text: str) -> str:
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def _cell(text: str) -> str:
    """A table cell: an app's answer or a judge's reason must not become markup in a pull-request comment."""
    return _md(text)


def to_markdown(result: GateResult) -> str:
    run = result.run
    mark = {"passed": "✅ passed", "failed": "❌ failed", "incomplete": "⚠️ incomplete"}[result.verdict]
    info = run.info
    lines = [
        f"## llmsight eval {_code(run.name)}: {mark}",
        "",
        f"Dataset {_code(info['dataset_path'])} ({info['dataset_rows']} rows, hash {_code(info['dataset_hash'])}) · "
        f"target {_code(info['target'] or 'answers as given')} · judge {_code(info['judge_model'])}"
        + (f" · commit {_code(info['git_commit'][:12])}" if info["git_commit"] else ""),
        "",
    ]
    comparison = {m.metric: m for m in result.comparison.metrics} if result.comparison else {}
    header = "| Metric | Average | Pass rate | Target |"
    rule = "|---|---:|---:|---|"
    if result.comparison:
        header += f" Baseline {_code(result.comparison.a)} | Change [95% CI] | Verdict |"
        rule += "---:|---|---|"
    lines += [header, rule]
    for metric, s in result.summaries.items():
        target = result.targets.get(metric)
        wanted = []
        if target and target.pass_rate_min is not None:
            wanted.append(f"pass ≥ {target.pass_rate_min:.0%}")
        if target and target.average_min is not None:
            wanted.append(f"avg ≥ {target.average_min:g}")
        missed = any(not c.ok and c.metric == metric and c.kind != "regression" for c in result.checks)
        cells = [metric, _num(s.mean), f"{_pct(s.pass_rate)} ({s.passed}/{s.n})",
                 (", ".join(wanted) or "none") + (" ❌" if missed else "")]  # fmt: skip
        mc = comparison.get(metric)
        if result.comparison:
            if mc is None:
                cells += ["n/a", "n/a", "not in baseline"]
            else:
                ci = f" [{_num(mc.ci[0], True)}, {_num(mc.ci[1], True)}]" if mc.ci else ""
                flag = {"regression": " ❌", "improvement": " ✅"}.get(mc.verdict, "")
                cells += [_num(mc.a.mean), _num(mc.diff, True) + ci, mc.verdict + flag]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if result.comparison and result.comparison.regressed_rows:
        lines += ["", "### Rows that regressed most", "", "| Row | Question | Scores (baseline → this run) | Trace |",
                  "|---|---|---|---|"]  # fmt: skip
        for rc in result.comparison.regressed_rows:
            moved = ", ".join(f"{m} {x}→{y}" for m, (x, y) in rc.metrics.items())
            row_id, question = _cell(_short(rc.row_id)), _cell(_short(rc.question, 60))
            lines.append(f"| {row_id} | {question} | {moved} | `{rc.trace_b}` |")
    failing = _failing(result)
    if failing:
        lines += [
            "",
            f"### Failing rows ({len(failing)})",
            "",
            "| Row | Metric | Score | Why | Trace |",
            "|---|---|---:|---|---|",
        ]
        for s in failing[:MAX_MARKDOWN_ROWS]:
            why = _cell(_short(s["reason"], 100))
            row_id = _cell(_short(s["row_id"]))
            lines.append(f"| {row_id} | {_cell(s['metric'])} | {s['score']} | {why} | `{s['trace_id']}` |")
        if len(failing) > MAX_MARKDOWN_ROWS:
            lines.append(f"\n…and {len(failing) - MAX_MARKDOWN_ROWS} more (see the JUnit or JSON report).")
    if result.missing or result.unanswered:
        lines += ["", f"**Incomplete:** {len(result.missing)} (row, metric) pairs without a judgement"
                  + (f", {result.unanswered} rows not run" if result.unanswered else "") + ". Rerun the same "
                  "`llmsight eval run` command to finish it."]  # fmt: skip
    return "\n".join(lines) + "\n"
