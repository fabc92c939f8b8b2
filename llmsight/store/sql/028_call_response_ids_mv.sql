-- v12: spans that carry a provider response id -> call_response_ids (one map lookup per span).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.call_response_ids_mv TO ${db}.call_response_ids AS
SELECT Timestamp, SpanAttributes['gen_ai.response.id'] AS ResponseId, TraceId, SpanId
FROM ${db}.otel_traces
WHERE ResponseId != ''
