"""The Operations dashboard: requests, errors, latency, time to first token and throughput.

The headline numbers and the latency/TTFT/throughput charts are the query layer's ``call_stats``
and ``call_stats_over_time`` (the numbers an operations monitor computes); the per-service and
per-model splits nobody else asks keep their own SQL.
"""

from __future__ import annotations

from panels.blocks import (
    CALLS_FILTER,
    Layout,
    dashboard,
    environment_var,
    from_question,
    model_var,
    service_var,
    stat,
    table,
    timeseries,
)

RANGE_S = "greatest(toUnixTimestamp($__toTime) - toUnixTimestamp($__fromTime), 1)"


def _stats(select: str) -> str:
    return from_question("call_stats", select)


def _over_time(select: str, where: str = "") -> str:
    return from_question("call_stats_over_time", f"time, {select}", where=where, order_by="time")


def operations() -> dict:
    lay = Layout()
    F = CALLS_FILTER
    panels = [
        stat(lay, "Requests", "How many LLM calls were made in the range?", _stats("requests"), "short"),
        stat(
            lay,
            "Error rate",
            "What share of LLM calls failed?",
            _stats("errors / greatest(requests, 1) AS error_rate"),
            "percentunit",
            decimals=2,
        ),
        stat(
            lay,
            "Latency p95",
            "How long do 95% of calls take at most? (exact p95 over every call, as a latency monitor)",
            _stats("latency_p95_ms"),
            "ms",
        ),
        stat(
            lay,
            "Time to first token p95",
            "How long do streamed calls wait for their first chunk (p95)?",
            _stats("ttft_p95_ms"),
            "ms",
        ),
        stat(
            lay,
            "Throughput",
            "How many calls per second on average over the range?",
            _stats(f"requests / {RANGE_S} AS requests_per_second"),
            "reqps",
        ),
        stat(
            lay,
            "Output tokens / s",
            "How many completion tokens per second are generated on average?",
            _stats(f"completion_tokens / {RANGE_S} AS output_tokens_per_second"),
            "short",
        ),
    ]
    lay.new_row()
    panels += [
        timeseries(
            lay,
            "Requests by service",
            "How many calls does each service make over time?",
            f"""SELECT $__timeInterval(Timestamp) AS time, ServiceName, count() AS requests
FROM otel.llm_calls WHERE {F}
GROUP BY time, ServiceName ORDER BY time""",
            "short",
            display_name="${__field.labels.ServiceName}",
        ),
        timeseries(
            lay,
            "Error rate by model",
            "Which models fail, and since when?",
            f"""SELECT $__timeInterval(Timestamp) AS time, Model, countIf(IsError = 1) / count() AS error_rate
FROM otel.llm_calls WHERE {F}
GROUP BY time, Model ORDER BY time""",
            "percentunit",
            display_name="${__field.labels.Model}",
        ),
        timeseries(
            lay,
            "Latency p50 / p95 / p99",
            "How long do calls take, typical and tail?",
            _over_time("latency_p50_ms AS p50, latency_p95_ms AS p95, latency_p99_ms AS p99"),
            "ms",
        ),
        timeseries(
            lay,
            "Time to first token (streamed calls)",
            "How long until the first chunk, p50 and p95?",
            _over_time("ttft_p50_ms, ttft_p95_ms", where="streams > 0"),
            "ms",
        ),
        timeseries(
            lay,
            "Throughput",
            "How many calls and completion tokens per second?",
            _over_time(
                "requests / $__interval_s AS requests_per_second, "
                "completion_tokens / $__interval_s AS output_tokens_per_second"
            ),
            "short",
        ),
        timeseries(
            lay,
            "Latency p95 by model",
            "Which model is slow?",
            f"""SELECT $__timeInterval(Timestamp) AS time, Model, quantileExact(0.95)(Duration) / 1e6 AS p95_ms
FROM otel.llm_calls WHERE {F}
GROUP BY time, Model ORDER BY time""",
            "ms",
            display_name="${__field.labels.Model}",
        ),
    ]
    lay.new_row()
    panels += [
        table(
            lay,
            "By service and model",
            "How does each service/model pair do on volume, errors and speed?",
            f"""SELECT ServiceName AS service, Model AS model, count() AS requests,
  countIf(IsError = 1) AS errors, errors / requests AS error_rate,
  quantile(0.5)(Duration) / 1e9 AS p50_s, quantile(0.95)(Duration) / 1e9 AS p95_s,
  avgIf(TimeToFirstChunk, TimeToFirstChunk IS NOT NULL) AS avg_ttft_s,
  sum(InputTokens + OutputTokens) AS tokens
FROM otel.llm_calls WHERE {F}
GROUP BY service, model ORDER BY requests DESC""",
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "error_rate"},
                    "properties": [{"id": "unit", "value": "percentunit"}],
                }
            ],
        ),
        table(
            lay,
            "Recent errors",
            "Which calls failed most recently, and with what message?",
            f"""SELECT Timestamp, ServiceName, Model, ErrorType, StatusMessage, TraceId
FROM otel.llm_calls WHERE {F} AND IsError = 1
ORDER BY Timestamp DESC LIMIT 100""",
            links_on=["TraceId"],
        ),
    ]
    return dashboard(
        "llmsight-operations",
        "llmsight / Operations",
        "Requests, errors, latency, time to first token and throughput of LLM calls.",
        panels,
        [service_var(), model_var(), environment_var()],
        tags=["operations"],
    )
