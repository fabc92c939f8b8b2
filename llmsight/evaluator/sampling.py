"""Pick which stored calls to judge, deterministically and without repeating work.

The sample decision is ``cityHash64(SpanId) % 10000 < rate * 10000`` computed in SQL: the same
call is in or out on every run and in every process, so a re-run after a crash, or ``serve``
and a manual ``llmsight evaluate``, agree on the sample instead of each drawing their own.
A (span, metric, judge model, prompt version) already recorded as ok / not_applicable /
parse_error is skipped; only judge_error (the judge failed, not the answer) is retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from llmsight.queries.questions import EXPERIMENT_ENVIRONMENT
from llmsight.store.event_content import fill_from_events

FINAL_STATUSES = ("ok", "not_applicable", "parse_error")
SKIPPED_OPERATIONS = ("embeddings", "create_embeddings", "execute_tool", "retrieval")
CALL_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ServiceName",
    "Environment",
    "Model",
    "Provider",
    "Operation",
    "Prompt",
    "Completion",
    "InputMessages",
    "OutputMessages",
    "SystemInstructions",
    "ContextDocuments",
    "GroundTruth",
)


def quote(value: str) -> str:
    """A ClickHouse string literal (we build IN lists of tuples, which parameter binding cannot)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def rate_basis_points(rate: float) -> int:
    return max(0, min(10000, int(round(rate * 10000))))


def sample_predicate(rate: float) -> str:
    return f"cityHash64(SpanId) % 10000 < {rate_basis_points(rate)}"


def _window(since_s: float) -> str:
    return f"Timestamp >= now64(9) - toIntervalMillisecond({int(since_s * 1000)})"


def _done_subquery(db: str, judge_model: str, plans: Sequence[tuple[str, str]], since_s: float) -> str:
    pairs = ", ".join(f"({quote(m)}, {quote(v)})" for m, v in plans)
    return (
        f"SELECT SpanId, Metric FROM (SELECT SpanId, Metric, argMax(Status, EvaluatedAt) AS st "
        f"FROM {db}.evaluations WHERE JudgeModel = {quote(judge_model)} "
        f"AND (toString(Metric), toString(PromptVersion)) IN ({pairs}) "
        f"AND SpanTimestamp >= now64(9) - toIntervalMillisecond({int(since_s * 1000) + 60_000}) "
        f"GROUP BY SpanId, Metric) WHERE st IN ({', '.join(quote(s) for s in FINAL_STATUSES)})"
    )


def select_candidates(
    client: Client,
    database: str,
    *,
    judge_model: str,
    plans: Sequence[tuple[str, str]],
    sample_rate: float,
    since_s: float,
    service: str = "",
    model: str = "",
    environment: str = "",
    limit: int = 500,
    shard: tuple[int, int] = (0, 1),
    screen_plans: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """Sampled calls in the window with at least one planned (metric, prompt version) not yet done.

    A call the pre-screen flagged (a ``call_screens`` row) is a candidate whether or not the hash picks
    it, until ``plans`` and ``screen_plans`` (the safety metrics) are all done for it; its row carries
    ``ScreenHits``.

    ``shard=(i, n)`` keeps the calls whose span id hashes to ``i`` of ``n``, so ``n`` evaluator
    workers share the sample without judging a call twice (a second hash, independent of sampling).

    Each row carries ``_done``: the metrics already final for it, so the worker judges only the rest.
    A call whose instrumentation sent its content as log events gets it from there (fill_from_events),
    so it is judged like one that had it on the span instead of being not_applicable.
    """
    if not plans or rate_basis_points(sample_rate) == 0:
        return []
    db = f"`{database}`"
    done = _done_subquery(db, judge_model, [*plans, *screen_plans], since_s)
    configured = ", ".join(quote(m) for m, _ in plans)
    sampled = (
        f"{sample_predicate(sample_rate)} AND SpanId NOT IN (SELECT SpanId FROM ({done}) "
        f"WHERE Metric IN ({configured}) GROUP BY SpanId HAVING count() >= {len(plans)})"
    )
    flagged = (
        f"SpanId IN (SELECT SpanId FROM {db}.call_screens WHERE {_window(since_s)}) AND SpanId NOT IN "
        f"(SELECT SpanId FROM ({done}) GROUP BY SpanId HAVING count() >= {len(plans) + len(screen_plans)})"
    )
    where = [
        _window(since_s),
        f"(({sampled}) OR ({flagged}))",
        "StatusCode != 'Error'",
        f"toString(Operation) NOT IN ({', '.join(quote(o) for o in SKIPPED_OPERATIONS)})",
    ]
    index, count = shard
    if count > 1:
        where.append(f"sipHash64(SpanId) % {int(count)} = {int(index)}")
    if service:
        where.append(f"ServiceName = {quote(service)}")
    if model:
        where.append(f"Model = {quote(model)}")
    # Experiments (`llmsight eval run`) are judged by their own run, never sampled as production.
    if environment:
        where.append(f"Environment = {quote(environment)}")
    else:
        where.append(f"Environment != {quote(EXPERIMENT_ENVIRONMENT)}")
    columns = ", ".join(f"`{c}`" for c in CALL_COLUMNS)
    result = client.query(
        f"SELECT {columns} FROM {db}.llm_calls WHERE {' AND '.join(where)} "
        f"ORDER BY Timestamp, SpanId LIMIT 1 BY SpanId LIMIT {int(limit)}"
    )
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    if not rows:
        return rows
    ids = ", ".join(quote(r["SpanId"]) for r in rows)
    done_rows = client.query(f"SELECT SpanId, Metric FROM ({done}) WHERE SpanId IN ({ids})").result_rows
    done_by_span: dict[str, set[str]] = {}
    for span_id, metric in done_rows:
        done_by_span.setdefault(span_id, set()).add(metric)
    hits = dict(client.query(f"SELECT SpanId, Hits FROM {db}.call_screens FINAL WHERE SpanId IN ({ids})").result_rows)
    for row in rows:
        row["_done"] = done_by_span.get(row["SpanId"], set())
        row["ScreenHits"] = list(hits.get(row["SpanId"], []))
    return fill_from_events(client, database, rows)


def retrieval_documents(client: Client, database: str, rows: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """For calls without ContextDocuments: documents of retrieval spans earlier in the same trace.

    Returned per SpanId of the call; a retrieval span that started after the call cannot have fed it.
    Retrieval spans are the GenAI conventions' (``gen_ai.operation.name = retrieval``, documents as one
    ``gen_ai.retrieval.documents`` JSON attribute) or OpenInference's (``openinference.span.kind =
    RETRIEVER``, one ``retrieval.documents.N.document.{content,id,score}`` attribute set per document),
    so a RAG app instrumented either way gets groundedness judged.
    """
    from llmsight.evaluator.inputs import parse_documents

    wanted = [r for r in rows if not str(r.get("ContextDocuments") or "").strip()]
    if not wanted:
        return {}
    traces = ", ".join(sorted({quote(r["TraceId"]) for r in wanted}))
    result = client.query(
        f"SELECT TraceId, Timestamp, SpanAttributes['gen_ai.retrieval.documents'] AS docs, "
        f"mapFilter((k, v) -> startsWith(k, '{OI_DOCUMENTS}'), SpanAttributes) AS oi_docs "
        f"FROM `{database}`.otel_traces WHERE TraceId IN ({traces}) "
        f"AND (SpanAttributes['gen_ai.operation.name'] = 'retrieval' "
        f"OR SpanAttributes['openinference.span.kind'] = 'RETRIEVER') "
        f"AND (docs != '' OR notEmpty(oi_docs)) ORDER BY Timestamp"
    ).result_rows
    by_trace: dict[str, list[tuple[dt.datetime, list[str]]]] = {}
    for trace_id, ts, docs, oi_docs in result:
        parsed = parse_documents(docs) if docs else parse_documents(openinference_documents(oi_docs))
        by_trace.setdefault(trace_id, []).append((ts, parsed))
    out: dict[str, list[str]] = {}
    for row in wanted:
        found: list[str] = []
        for ts, parsed in by_trace.get(row["TraceId"], []):
            if ts <= row["Timestamp"]:
                found.extend(parsed)
        if found:
            out[row["SpanId"]] = found
    return out


OI_DOCUMENTS = "retrieval.documents."


def openinference_documents(attributes: dict[str, str]) -> list[dict[str, str]]:
    """OpenInference's flattened documents (``retrieval.documents.N.document.content`` / ``.id``), in N order,
    as the ``{"id", "content"}`` objects ``parse_documents`` reads; the score is not context."""
    docs: dict[int, dict[str, str]] = {}
    for key, value in attributes.items():
        index, _, field = key.removeprefix(OI_DOCUMENTS).partition(".document.")
        if index.isdigit() and field in ("content", "id"):
            docs.setdefault(int(index), {})[field] = value
    return [docs[i] for i in sorted(docs) if docs[i].get("content")]


# The judge a dry run prices when nothing names one: the model the CLI's examples and the demo use.
DEFAULT_PLANNING_JUDGE = "gpt-4o-mini"


def planning_judge(client: Client, database: str, serve_judge: str = "") -> tuple[str, str]:
    """(judge model, where it came from) for a ``--dry-run`` that was not told which judge to plan for.

    Work already done is per judge model, so planning for no judge counts every sampled call as left to
    judge. Instead plan for the judge a real run would most likely use: the one the running ``serve`` judges
    with, else the one that last scored calls in this store, else the default.
    """
    if serve_judge:
        return serve_judge, "serve's judge"
    rows = client.query(
        f"SELECT JudgeModel FROM `{database}`.evaluations WHERE JudgeModel != '' "
        f"ORDER BY EvaluatedAt DESC, JudgeModel LIMIT 1"
    ).result_rows
    if rows:
        return rows[0][0], "this store's last judge"
    return DEFAULT_PLANNING_JUDGE, "default: no judge set"
