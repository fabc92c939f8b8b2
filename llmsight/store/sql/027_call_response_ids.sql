-- v12: the provider's response id of each LLM call (gen_ai.response.id), so feedback that names its
-- call by response id (llmsight.feedback(response_id=...)) finds the call with a primary-key lookup.
-- Read from otel_traces' SpanAttributes instead, a month's window cost 22 s per question (10M calls).
-- Filled by 028's view from every ingest path; keyed by (ResponseId, SpanId): replays replace.
CREATE TABLE IF NOT EXISTS ${db}.call_response_ids (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ResponseId String CODEC(ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1))
) ENGINE = ReplacingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ResponseId, SpanId)
${ttl_response_ids}
