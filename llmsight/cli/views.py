"""``llmsight calls`` and ``llmsight trace``: the store seen from a terminal."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from llmsight.cli.common import (
    EnvironmentOption,
    StoreOption,
    console,
    default_note,
    fail,
    make_settings,
    parse_duration,
    query_client,
    user_errors,
)
from llmsight.store.event_content import fill_from_events


def calls(
    last: Annotated[str, typer.Option(help="Time window back from now: 15m, 1h, 7d.")] = "1h",
    service: Annotated[
        str | None, typer.Option(help="Only this service.name." + default_note("all services"), show_default=False)
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Only this model (request or response model)." + default_note("all models"), show_default=False
        ),
    ] = None,
    environment: EnvironmentOption = "",
    errors: Annotated[bool, typer.Option("--errors", help="Only failed calls." + default_note("all calls"))] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 20,
    clickhouse_url: StoreOption = None,
) -> None:
    """List recent LLM calls: time, service, model, tokens, cost, latency, status and the prompt.

    Example:

        llmsight calls --last 24h --service rag-app --limit 50

    An experiment's calls: [bold]llmsight calls --environment llmsight-eval[/]
    """
    from llmsight.queries.questions import EXPERIMENT_ENVIRONMENT

    seconds = parse_duration(last)
    with user_errors():
        client = query_client(make_settings(clickhouse_url=clickhouse_url))
        found = client.query(
            "SELECT Timestamp, TraceId, ServiceName, Model, InputTokens, OutputTokens, Cost, Duration / 1e6, "
            "StatusCode, ErrorType, Prompt, SpanId FROM llm_calls "
            "WHERE Timestamp >= now64(9) - toIntervalSecond(%(seconds)s) "
            "AND (%(service)s = '' OR ServiceName = %(service)s) "
            "AND (%(model)s = '' OR Model = %(model)s OR RequestModel = %(model)s) "
            "AND if(%(environment)s = '', Environment != %(experiments)s, Environment = %(environment)s) "
            "AND (NOT %(errors)s OR IsError) "
            "ORDER BY Timestamp DESC LIMIT %(limit)s",
            parameters={
                "seconds": seconds,
                "service": service or "",
                "model": model or "",
                "environment": environment,
                "experiments": EXPERIMENT_ENVIRONMENT,
                "errors": errors,
                "limit": limit,
            },
        )
        # a call whose instrumentation sent its prompt as a log event has it there
        named = fill_from_events(client, client.database, list(found.named_results()))
        rows = [tuple(r[c] for c in found.column_names[:11]) for r in named]
    console.print(_calls_table(rows, f"LLM calls, last {last}", console.width))
    if not rows:
        console.print(f"no LLM calls in the last {last}; is the app instrumented and sending to `llmsight serve`?")


PROMPT_MIN = 12  # the prompt column shrinks to this before any other column gives way


def _calls_table(rows: list[tuple], title: str, width: int) -> Table:
    """The calls table for a terminal this wide: the prompt gives way first, model and status names never do.

    Time of day, model, tokens, cost, latency and status are always shown, each as wide as its longest value.
    Then, while the prompt keeps PROMPT_MIN columns: the service (as "service / model"), the trace id, the
    date. Only a terminal too narrow for the always-shown columns cuts a name.
    """
    when = [r[0] for r in rows]
    status = [Text(r[9] or "error", style="red") if r[8] == "Error" else Text("ok", style="green") for r in rows]
    columns: dict[str, tuple[str, list[Any], str]] = {
        "time": ("time", [ts.strftime("%H:%M:%S") for ts in when], "left"),
        "trace": ("trace", [r[1][:8] for r in rows], "left"),
        "model": ("model", [r[3] for r in rows], "left"),
        "tokens": ("tokens", [f"{r[4]:,}/{r[5]:,}" for r in rows], "right"),
        "cost": ("cost $", [f"{r[6]:.4f}" for r in rows], "right"),
        "ms": ("ms", [f"{r[7]:,.0f}" for r in rows], "right"),
        "status": ("status", status, "left"),
    }
    upgrades = [
        ("model", ("service / model", [f"{r[2]} / {r[3]}" for r in rows], "left")),
        ("trace", columns.pop("trace")),
        ("time", ("time (UTC)", [ts.strftime("%m-%d %H:%M:%S") for ts in when], "left")),
    ]

    def used(cols: dict[str, tuple[str, list[Any], str]]) -> int:  # each column is followed by 1 column of padding
        return sum(_width(header, cells) + 1 for header, cells, _ in cols.values())

    for key, column in upgrades:
        trial = {**columns, key: column}
        if used(trial) + PROMPT_MIN <= width:
            columns = trial
    order = [k for k in ("time", "trace", "model", "tokens", "cost", "ms", "status") if k in columns]
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), expand=True)
    for key in order:
        header, cells, justify = columns[key]
        w = _width(header, cells)
        table.add_column(header, min_width=w, max_width=w, justify=justify, no_wrap=True, overflow="ellipsis")
    table.add_column("prompt", ratio=1, no_wrap=True, overflow="ellipsis")
    for i, row in enumerate(rows):
        table.add_row(*(columns[key][1][i] for key in order), _excerpt(row[10], 300))
    return table


def _width(header: str, cells: list[Any]) -> int:
    return max([cell_len(header), *(c.cell_len if isinstance(c, Text) else cell_len(c) for c in cells)])


def trace(
    trace_id: Annotated[str, typer.Argument(help="The trace id (32 hex characters; a unique prefix of 8+ works).")],
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Show whole prompts, completions and context." + default_note("first 300 characters")
        ),
    ] = False,
    clickhouse_url: StoreOption = None,
) -> None:
    """Show one trace as a span tree with timings; LLM spans with prompt, completion, context, tokens, cost, scores.

    Example:

        llmsight trace 4bf92f3577b34da6a3ce929d0e0e4736
    """
    trace_id = trace_id.strip().lower()
    if len(trace_id) < 8 or any(c not in "0123456789abcdef" for c in trace_id):
        raise fail("a trace id is hex, at least 8 characters")
    with user_errors():
        client = query_client(make_settings(clickhouse_url=clickhouse_url))
        if len(trace_id) < 32:
            matches = client.query(
                "SELECT DISTINCT TraceId FROM otel_traces_trace_id_ts WHERE startsWith(TraceId, %(p)s) LIMIT 2",
                parameters={"p": trace_id},
            ).result_rows
            if len(matches) != 1:
                raise fail(f"{'no trace' if not matches else 'more than one trace'} starts with {trace_id}")
            trace_id = matches[0][0]
        spans = client.query(
            "SELECT SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, Timestamp, Duration, StatusCode, "
            "StatusMessage FROM otel_traces WHERE TraceId = %(t)s ORDER BY Timestamp",
            parameters={"t": trace_id},
        ).named_results()
        spans = list(spans)
        if not spans:
            raise fail(f"no trace {trace_id} in the store")
        calls = client.query(
            "SELECT TraceId, SpanId, Model, InputTokens, OutputTokens, Cost, Prompt, Completion, ContextDocuments, "
            "TimeToFirstChunk FROM llm_calls WHERE TraceId = %(t)s",
            parameters={"t": trace_id},
        ).named_results()
        # content sent as log events (not on the span) is shown like content on the span
        llm = {row["SpanId"]: row for row in fill_from_events(client, client.database, list(calls))}
        scores: dict[str, list[tuple[str, Any, str]]] = {}
        for span_id, metric, score, status in client.query(
            "SELECT SpanId, Metric, Score, Status FROM (SELECT SpanId, Metric, Score, Status FROM evaluations FINAL "
            "WHERE TraceId = %(t)s UNION ALL SELECT SpanId, Metric, Score, Status FROM experiment_evaluations FINAL "
            "WHERE TraceId = %(t)s) ORDER BY Metric",
            parameters={"t": trace_id},
        ).result_rows:
            scores.setdefault(span_id, []).append((metric, score, status))
    console.print(_render_tree(trace_id, spans, llm, scores, full))


EVALUATION_SPAN = "llmsight.evaluation"  # experiments.telemetry's score span


def _render_tree(trace_id: str, spans: list[dict], llm: dict, scores: dict, full: bool) -> Tree:
    start = min(s["Timestamp"] for s in spans)
    total_ms = max((s["Timestamp"] - start).total_seconds() * 1000 + s["Duration"] / 1e6 for s in spans)
    root = Tree(f"[bold]trace {trace_id}[/]  {len(spans)} spans, {total_ms:,.1f} ms")
    nodes: dict[str, Tree] = {}
    known = {s["SpanId"] for s in spans}
    limit = None if full else 300
    for span in spans:  # ordered by start time, so parents come before children
        if span["SpanName"] == EVALUATION_SPAN and span["ParentSpanId"] in scores:
            continue  # an experiment's score: shown on the span it judged, below
        offset = (span["Timestamp"] - start).total_seconds() * 1000
        style = "red" if span["StatusCode"] == "Error" else "white"
        label = Text.assemble(
            (span["SpanName"], f"bold {style}"),
            f"  {span['Duration'] / 1e6:,.1f} ms",
            (f"  +{offset:,.1f} ms  {span['ServiceName']}", "dim"),
        )
        if span["StatusCode"] == "Error" and span["StatusMessage"]:
            label.append(f"  {span['StatusMessage']}", style="red")
        parent = nodes.get(span["ParentSpanId"]) if span["ParentSpanId"] in known else root
        node = (parent or root).add(label)
        nodes[span["SpanId"]] = node
        call = llm.get(span["SpanId"])
        if call:
            ttft = f", first chunk {call['TimeToFirstChunk'] * 1000:,.0f} ms" if call["TimeToFirstChunk"] else ""
            node.add(
                f"[cyan]{call['Model']}[/]  {call['InputTokens']:,} in / {call['OutputTokens']:,} out, "
                f"${call['Cost']:.5f}{ttft}"
            )
            node.add(Text.assemble(("prompt: ", "bold"), _excerpt(call["Prompt"], limit)))
            node.add(Text.assemble(("completion: ", "bold"), _excerpt(call["Completion"], limit)))
            docs = _documents(call["ContextDocuments"])
            if docs:
                ctx = node.add(Text(f"context: {len(docs)} document(s)", style="bold"))
                for doc in docs[: None if full else 3]:
                    ctx.add(_excerpt(doc, limit))
        for metric, score, status in scores.get(span["SpanId"], []):  # an LLM call's, or an experiment row's
            shown = f"{score}/5" if status == "ok" else status
            color = "green" if status == "ok" and score and score >= 4 else "yellow" if status == "ok" else "dim"
            node.add(f"[{color}]{metric}: {shown}[/]")
    return root


def _documents(raw: str) -> list[str]:
    if not raw:
        return []
    try:
        docs = json.loads(raw)
    except ValueError:
        return [raw]
    if not isinstance(docs, list):
        return [str(docs)]
    return [d.get("content", json.dumps(d)) if isinstance(d, dict) else str(d) for d in docs]


def _excerpt(text: str, limit: int | None) -> str:
    text = " ".join((text or "").split())
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
