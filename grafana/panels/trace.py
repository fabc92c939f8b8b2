"""The Trace drill-down dashboard: one trace's span waterfall, its LLM calls and their judge scores.

Questions about one trace nobody else asks, so the SQL lives here.
"""

from __future__ import annotations

from panels.blocks import TRACE_DASHBOARD_UID, Layout, dashboard, panel, table

TRACE_BOUNDS = """(SELECT min(Start) FROM otel.otel_traces_trace_id_ts
    WHERE TraceId = ${trace_id:singlequote}) AS trace_start,
  (SELECT max(End) + 1 FROM otel.otel_traces_trace_id_ts
    WHERE TraceId = ${trace_id:singlequote}) AS trace_end"""


def trace() -> dict:
    lay = Layout()
    panels = [
        panel(
            lay,
            "traces",
            "Trace",
            "Where did the time go in this request, span by span?",
            f"""WITH {TRACE_BOUNDS}
SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID, ServiceName AS serviceName,
  SpanName AS operationName, toUnixTimestamp64Nano(Timestamp) / 1000000 AS startTime,
  Duration / 1000000 AS duration,
  arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
  arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes)) AS serviceTags,
  if(StatusCode = 'Error', 2, if(StatusCode = 'Ok', 1, 0)) AS statusCode, StatusMessage AS statusMessage
FROM otel.otel_traces
WHERE TraceId = ${{trace_id:singlequote}} AND Timestamp >= trace_start AND Timestamp <= trace_end
ORDER BY startTime ASC""",
            kind="traces",
            w=24,
            h=12,
            options={},
        ),
        table(
            lay,
            "LLM calls in this trace",
            "What did each model call get and return, at what cost, and how did the judge score it?",
            f"""WITH {TRACE_BOUNDS}
SELECT c.Timestamp AS Timestamp, c.SpanName AS SpanName, c.ServiceName AS ServiceName, c.Model AS Model,
  c.InputTokens AS InputTokens, c.OutputTokens AS OutputTokens, c.Cost AS Cost,
  c.Duration / 1e6 AS duration_ms, c.TimeToFirstChunk AS ttft_s, c.StatusCode AS StatusCode,
  c.StatusMessage AS StatusMessage, e.scores AS scores, c.Prompt AS Prompt, c.Completion AS Completion,
  c.ContextDocuments AS ContextDocuments, c.SpanId AS SpanId
FROM (SELECT Timestamp, SpanName, ServiceName, Model, InputTokens, OutputTokens, Cost, Duration, TimeToFirstChunk,
        StatusCode, StatusMessage, Prompt, Completion, ContextDocuments, SpanId
      FROM otel.llm_calls
      WHERE TraceId = ${{trace_id:singlequote}} AND Timestamp >= trace_start AND Timestamp <= trace_end) AS c
LEFT JOIN (SELECT SpanId,
             arrayStringConcat(arraySort(groupArray(concat(Metric, '=', ifNull(toString(Score), Status)))), ' ')
               AS scores
           FROM otel.evaluations FINAL
           WHERE TraceId = ${{trace_id:singlequote}} AND SpanTimestamp >= trace_start AND SpanTimestamp <= trace_end
           GROUP BY SpanId) AS e ON e.SpanId = c.SpanId
ORDER BY Timestamp""",
            h=10,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "Cost"},
                    "properties": [{"id": "unit", "value": "currencyUSD"}, {"id": "decimals", "value": 5}],
                }
            ],
        ),
        table(
            lay,
            "Judge scores in this trace",
            "How did the judge score each call, and why?",
            f"""WITH {TRACE_BOUNDS}
SELECT SpanId, Metric, Score, Threshold, Passed, Status, Reason, JudgeModel, EvaluatedAt
FROM otel.evaluations FINAL
WHERE TraceId = ${{trace_id:singlequote}} AND SpanTimestamp >= trace_start AND SpanTimestamp <= trace_end
ORDER BY SpanId, Metric""",
            h=8,
        ),
    ]
    variables = [
        {
            "name": "trace_id",
            "label": "Trace ID",
            "type": "textbox",
            "query": "",
            "current": {"selected": False, "text": "", "value": ""},
            "options": [],
            "hide": 0,
        }
    ]
    return dashboard(
        TRACE_DASHBOARD_UID,
        "llmsight / Trace",
        "One trace: the span waterfall, its LLM calls with prompt, completion, context, "
        "tokens and cost, and their judge scores.",
        panels,
        variables,
        time_from="now-7d",
        tags=["trace"],
    )
