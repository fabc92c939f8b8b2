"""How fast are llmsight's Grafana panels on a realistic amount of data?

Seeds an embedded store (chDB, its own directory) with N LLM calls spread over 30 days — about
1 KB of prompt + completion text each, generated in SQL with INSERT ... SELECT FROM numbers() —
plus judge scores for a 10% sample x 5 metrics and people's ratings on 2%, then runs every panel
query of every dashboard (and every alert rule's query), expanded exactly as Grafana + the ClickHouse plugin would
(tests/grafana/macros.py), for the default 24 h range and for a 30 day range.

Targets: every panel under 100 ms p95 for 24 h, under 1 s p95 for 30 days.

    python bench/dashboard_queries.py                 # 10M calls (slow on 2 cores: minutes)
    python bench/dashboard_queries.py --calls 100000  # smoke run, < 1 minute
    python bench/dashboard_queries.py --via calls     # skip the materialized view when seeding

``--via traces`` (default) inserts spans into otel_traces in the contrib exporter's layout, so
llm_calls is derived by the schema's materialized view as in production; ``--via calls`` writes
llm_calls directly (faster seeding; the panels read the same table either way).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SERVICES = ["chat-api", "rag-worker", "batch-summarizer", "support-bot", "search"]
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"),
          ("anthropic", "claude-3-5-haiku"), ("anthropic", "claude-sonnet-4")]
PRICES = {"gpt-4o-mini": (0.15, 0.6), "gpt-4o": (2.5, 10.0), "gpt-4.1-mini": (0.4, 1.6),
          "claude-3-5-haiku": (0.8, 4.0), "claude-sonnet-4": (3.0, 15.0)}
METRICS = ["groundedness", "relevance", "coherence", "fluency", "similarity"]
WORDS = ["the", "retry", "policy", "billing", "service", "customer", "invoice", "refund", "order", "status",
         "shipping", "account", "password", "reset", "error", "timeout", "please", "explain", "how", "why",
         "configure", "deploy", "cluster", "replica", "latency", "budget", "token", "model", "answer",
         "context", "document", "summary"]
TARGET_MS = {"24h": 100.0, "30d": 1000.0}


def load_macros():
    spec = importlib.util.spec_from_file_location("llmsight_grafana_macros", REPO / "tests/grafana/macros.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _arr(items: list[str]) -> str:
    return "[" + ",".join(f"'{x}'" for x in items) + "]"


def _words(n: int, salt: str) -> str:
    """~n words of text from a small vocabulary: compresses roughly like real prose."""
    return (f"arrayStringConcat(arrayMap(i -> {_arr(WORDS)}[(cityHash64(number, i, '{salt}') % {len(WORDS)}) + 1], "
            f"range({n})), ' ')")


def _call_columns(start_s: float, step_s: float) -> str:
    """Typed per-call values, shared by both seeding paths."""
    models = _arr([m for _, m in MODELS])
    providers = _arr([p for p, _ in MODELS])
    return f"""
    number,
    toDateTime64({start_s} + number * {step_s} + (cityHash64(number, 'j') % 1000) / 1000 * {step_s}, 9) AS ts,
    concat(lower(hex(cityHash64(number, 't'))), lower(hex(cityHash64(number, 'u')))) AS trace_id,
    lower(hex(cityHash64(number, 's'))) AS span_id,
    {_arr(SERVICES)}[number % {len(SERVICES)} + 1] AS svc,
    {models}[intDiv(number, 7) % {len(MODELS)} + 1] AS model,
    {providers}[intDiv(number, 7) % {len(MODELS)} + 1] AS provider,
    if(number % 10 < 8, 'prod', 'staging') AS env,
    number % 53 = 0 AS is_error,
    if(is_error, 0, 50 + cityHash64(number, 'in') % 4000) AS in_tok,
    if(is_error, 0, 1 + cityHash64(number, 'out') % 800) AS out_tok,
    (200 + cityHash64(number, 'd') % 6000) * 1000000 AS duration_ns,
    number % 2 = 0 AS streamed,
    (50 + cityHash64(number, 'f') % 1500) / 1000 AS ttft,
    concat('user-', toString(number % 2000)) AS user,
    concat('Question ', toString(number), ': ', {_words(100, 'p')}) AS prompt,
    {_words(45, 'c')} AS completion"""


def seed(client, db: str, calls: int, days: int, via: str, chunk: int = 1_000_000) -> float:
    """Insert ``calls`` calls over ``days`` days ending now; returns seconds taken."""
    end = datetime.now(timezone.utc).replace(microsecond=0)
    start_s = (end - timedelta(days=days)).timestamp()
    step_s = days * 86400 / calls
    for provider, model in MODELS:
        pin, pout = PRICES[model]
        client.command(f"INSERT INTO `{db}`.model_prices (Provider, Model, CatalogProvider, CatalogModel, "
                       f"InputPerMTok, OutputPerMTok, CacheReadPerMTok) VALUES ('{provider}', '{model}', "
                       f"'{provider}', '{model}', {pin}, {pout}, {pin / 4})")
    client.command(f"SYSTEM RELOAD DICTIONARY `{db}`.model_prices_dict")
    t0 = time.perf_counter()
    for offset in range(0, calls, chunk):
        n = min(chunk, calls - offset)
        src = f"(SELECT {_call_columns(start_s, step_s)} FROM numbers({offset}, {n}))"
        if via == "traces":
            client.command(f"""
INSERT INTO `{db}`.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT ts, trace_id, span_id, '', concat('chat ', model), 'Client', svc,
    map('deployment.environment.name', env, 'service.name', svc), 'llmsight',
    mapFilter((k, v) -> v != '', map(
        'gen_ai.operation.name', 'chat', 'gen_ai.provider.name', provider, 'gen_ai.request.model', model,
        'gen_ai.response.model', if(is_error, '', model),
        'gen_ai.response.id', if(is_error, '', concat('chatcmpl-', span_id)),
        'gen_ai.usage.input_tokens', if(is_error, '', toString(in_tok)),
        'gen_ai.usage.output_tokens', if(is_error, '', toString(out_tok)),
        'gen_ai.request.stream', if(streamed, 'true', ''),
        'gen_ai.response.time_to_first_chunk', if(streamed AND NOT is_error, toString(ttft), ''),
        'gen_ai.input.messages',
            concat('[{{"role":"user","parts":[{{"type":"text","content":', toJSONString(prompt), '}}]}}]'),
        'gen_ai.output.messages', if(is_error, '', concat('[{{"role":"assistant","parts":[{{"type":"text","content":',
                                                            toJSONString(completion), '}}],"finish_reason":"stop"}}]')),
        'user.id', user)),
    duration_ns, if(is_error, 'Error', 'Unset'), if(is_error, '429 Too Many Requests: rate limited', '')
FROM {src}""")
        else:
            client.command(f"""
INSERT INTO `{db}`.llm_calls (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, ServiceName, Environment,
    Operation, Provider, RequestModel, ResponseModel, Model, InputTokens, OutputTokens, Stream, Duration,
    TimeToFirstChunk, StatusCode, StatusMessage, ErrorType, IsError, InputMessages, OutputMessages, UserId)
SELECT ts, trace_id, span_id, '', concat('chat ', model), svc, env, 'chat', provider, model,
    if(is_error, '', model), model, in_tok, out_tok, streamed, duration_ns,
    if(streamed AND NOT is_error, ttft, NULL), if(is_error, 'Error', 'Unset'),
    if(is_error, '429 Too Many Requests: rate limited', ''), if(is_error, 'error', ''), is_error,
    concat('[{{"role":"user","parts":[{{"type":"text","content":', toJSONString(prompt), '}}]}}]'),
    if(is_error, '', concat('[{{"role":"assistant","parts":[{{"type":"text","content":', toJSONString(completion),
                            '}}],"finish_reason":"stop"}}]')),
    user
FROM {src}""")
            client.command(f"INSERT INTO `{db}`.otel_traces_trace_id_ts SELECT trace_id, min(ts), max(ts) "
                           f"FROM {src} GROUP BY trace_id")
        print(f"  seeded {offset + n:,} / {calls:,} calls ({time.perf_counter() - t0:.0f}s)", flush=True)
    # Judge scores: a 10% sample of successful calls x 5 metrics.
    client.command(f"""
INSERT INTO `{db}`.evaluations (SpanTimestamp, TraceId, SpanId, ServiceName, Model, Metric, Score, WeightedScore,
    Threshold, Passed, Status, Reason, JudgeModel, PromptVersion, JudgeInputTokens, JudgeOutputTokens,
    JudgeCost, JudgeLatencyMs, EvaluatedAt)
SELECT Timestamp, TraceId, SpanId, ServiceName, Model, metric,
    if(st = 'ok', toUInt8(1 + cityHash64(SpanId, metric) % 5), NULL) AS score, toFloat64(score), 3.0,
    if(st = 'ok', toUInt8(score >= 3), NULL), st, 'bench', 'gpt-4o-mini', 'v1', 600, 60, 0.00013, 900, now64(3)
FROM (
    SELECT Timestamp, TraceId, SpanId, ServiceName, Model, metric,
        if(cityHash64(SpanId, metric, 'st') % 100 < 2, 'parse_error', 'ok') AS st
    FROM (SELECT Timestamp, TraceId, SpanId, ServiceName, Model FROM `{db}`.llm_calls
          WHERE IsError = 0 AND cityHash64(SpanId) % 10 = 0)
    ARRAY JOIN {_arr(METRICS)} AS metric)""")
    seed_feedback(client, db, by_response_id=via == "traces")
    elapsed = time.perf_counter() - t0
    client.command(f"OPTIMIZE TABLE `{db}`.evaluations FINAL")
    return elapsed


def seed_feedback(client, db: str, by_response_id: bool) -> None:
    """People's ratings on 2% of answered calls, ten minutes after each, as the feedback spans
    llmsight.feedback() sends (the store's feedback_mv files them); with spans in otel_traces, every
    other rating names its call by the provider's response id instead of its span id."""
    client.command(f"""
INSERT INTO `{db}`.otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT Timestamp + INTERVAL 10 MINUTE, lower(hex(cityHash64(SpanId, 'ft'))) || lower(hex(cityHash64(SpanId, 'fu'))),
    lower(hex(cityHash64(SpanId, 'fs'))), '', 'llmsight.feedback', 'Internal', 'web-frontend',
    map('service.name', 'web-frontend'), 'llmsight',
    if({int(by_response_id)} AND cityHash64(SpanId, 'by') % 2 = 0,
       map('llmsight.feedback.response_id', concat('chatcmpl-', SpanId), 'llmsight.feedback.score', score),
       map('llmsight.feedback.trace_id', TraceId, 'llmsight.feedback.span_id', SpanId,
           'llmsight.feedback.score', score)),
    0, 'Unset', ''
FROM (SELECT Timestamp, TraceId, SpanId, if(cityHash64(SpanId, 'fb') % 4 = 0, '0', '1') AS score
      FROM `{db}`.llm_calls WHERE IsError = 0 AND cityHash64(SpanId, 'rated') % 50 = 0)""")


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, rawSql) for every panel target and alert rule query."""
    out = []
    for path in sorted((REPO / "grafana/dashboards").glob("*.json")):
        dash = json.loads(path.read_text())
        for p in dash["panels"]:
            for t in p.get("targets", []):
                out.append((path.stem, p["title"], t["rawSql"]))
    # the alert rules Grafana gets without a monitor file: the default monitor's
    import yaml

    from llmsight.monitors.config import default_monitor_file
    from llmsight.monitors.grafana_rules import render_rules

    for group in yaml.safe_load(render_rules(default_monitor_file()))["groups"]:
        for rule in group["rules"]:
            out.append(("alert", rule["title"], rule["data"][0]["model"]["rawSql"]))
    return out


def run(args: argparse.Namespace) -> int:
    from llmsight.store.client import open_client
    from llmsight.store.schema import init_schema
    from llmsight.store.url import parse_store_url

    macros = load_macros()
    tmp = None
    path = args.path
    if not path:
        tmp = tempfile.mkdtemp(prefix="llmsight-bench-")
        path = tmp
    db = "otel"
    store = parse_store_url(f"chdb://{path}?database={db}")
    admin = open_client(store, database=False)
    fresh = not int(admin.command(f"EXISTS TABLE `{db}`.llm_calls")) or args.reseed
    if fresh:
        admin.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        init_schema(admin, store, retention_days=0)
    client = open_client(store)
    if fresh:
        print(f"seeding {args.calls:,} calls over {args.days} days via {args.via} into {path}", flush=True)
        took = seed(client, db, args.calls, args.days, args.via)
        print(f"seeded in {took:.1f}s ({args.calls / took:,.0f} calls/s)", flush=True)
    rows = client.command(f"SELECT count() FROM `{db}`.llm_calls")
    evals = client.command(f"SELECT count() FROM `{db}`.evaluations")
    ratings = client.command(f"SELECT count() FROM `{db}`.feedback")
    size = client.command(f"SELECT formatReadableSize(sum(bytes_on_disk)) FROM system.parts "
                          f"WHERE database = '{db}' AND active")
    print(f"store: {int(rows):,} llm_calls, {int(evals):,} evaluations, {int(ratings):,} ratings, {size} on disk",
          flush=True)

    now = datetime.now(timezone.utc).replace(microsecond=0)
    trace_id = client.command(f"SELECT TraceId FROM `{db}`.llm_calls WHERE Timestamp > now() - INTERVAL 1 HOUR "
                              "LIMIT 1") or ""
    ranges = {"24h": (timedelta(hours=24), 120), "30d": (timedelta(days=30), 3600)}
    results = []
    for dash, title, sql in panel_queries():
        if args.only and not re.search(args.only, f"{dash}: {title}", re.I):
            continue
        row = {"dashboard": dash, "panel": title}
        for name, (span, interval) in ranges.items():
            ctx = macros.Context(time_from=now - span, time_to=now, interval_s=interval, database=db,
                                 variables={"service": macros.ALL, "model": macros.ALL, "environment": macros.ALL,
                                            "metric": macros.ALL, "scope": "Model", "drift_baseline": "604800",
                                            "trace_id": str(trace_id)})
            q = macros.expand(sql, ctx)
            client.query(q)  # warm-up (first run compiles, loads marks); not counted
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                client.query(q)
                times.append((time.perf_counter() - t0) * 1000)
            p95 = statistics.quantiles(times, n=20, method="inclusive")[-1] if len(times) > 1 else times[0]
            row[name] = (statistics.median(times), p95)
        results.append(row)
        print(f"  {dash:10s} {title[:45]:45s} 24h p50 {row['24h'][0]:7.1f} p95 {row['24h'][1]:7.1f} ms | "
              f"30d p50 {row['30d'][0]:7.1f} p95 {row['30d'][1]:7.1f} ms", flush=True)

    lines = ["| dashboard | panel | 24 h p50 ms | 24 h p95 ms | 30 d p50 ms | 30 d p95 ms | meets target |",
             "|---|---|---:|---:|---:|---:|---|"]
    misses = 0
    for r in results:
        ok24 = r["24h"][1] < TARGET_MS["24h"]
        ok30 = r["30d"][1] < TARGET_MS["30d"]
        misses += (not ok24) + (not ok30)
        verdict = "yes" if ok24 and ok30 else "no (" + ", ".join(
            n for n, ok in (("24 h", ok24), ("30 d", ok30)) if not ok) + ")"
        lines.append(f"| {r['dashboard']} | {r['panel']} | {r['24h'][0]:.1f} | {r['24h'][1]:.1f} | "
                     f"{r['30d'][0]:.1f} | {r['30d'][1]:.1f} | {verdict} |")
    table = "\n".join(lines)
    print()
    print(table)
    print(f"\n{len(results)} queries, {misses} target misses "
          f"(targets: p95 < {TARGET_MS['24h']:.0f} ms for 24 h, < {TARGET_MS['30d']:.0f} ms for 30 d)")
    if args.output:
        Path(args.output).write_text(table + "\n")
    if tmp and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=10_000_000, help="LLM calls to seed (default 10M)")
    ap.add_argument("--days", type=int, default=30, help="days the calls are spread over")
    ap.add_argument("--reps", type=int, default=5, help="timed runs per panel and range")
    ap.add_argument("--via", choices=["traces", "calls"], default="traces",
                    help="seed spans through the materialized view, or llm_calls directly")
    ap.add_argument("--path", help="chDB directory (default: a temp dir, removed after)")
    ap.add_argument("--reseed", action="store_true", help="drop and reseed an existing --path store")
    ap.add_argument("--keep", action="store_true", help="keep the temp store")
    ap.add_argument("--output", help="also write the markdown table here")
    ap.add_argument("--only", help="regex: time only the panels whose 'dashboard: title' matches")
    return run(ap.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
