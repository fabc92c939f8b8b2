-- v8: message content that an instrumentation sent as log events instead of span attributes, one
-- row per event, in the JSON shapes llm_calls holds (semconv messages with text / tool_call /
-- tool_call_response parts). Filled by llm_call_events_mv from otel_logs; readers take a call's
-- content from llm_calls, else from here by SpanId (llmsight/store/event_content.py). It is its own
-- table, not a join inside the llm_calls view, because a call's events and its span come in
-- different exports, in either order: no view on one insert can see both.
-- A call can have several rows (one per message with per-message events); the reader merges them
-- in Timestamp order. Prompt and Completion are per row, defined as on llm_calls.
CREATE TABLE IF NOT EXISTS ${db}.llm_call_events (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    EventName LowCardinality(String),
    SystemInstructions String CODEC(ZSTD(1)),
    InputMessages String CODEC(ZSTD(1)),
    OutputMessages String CODEC(ZSTD(1)),
    Prompt String ALIAS arrayStringConcat(arrayMap(m -> if(JSONHas(m, 'parts'),
            arrayStringConcat(arrayMap(p -> JSONExtractString(p, 'content'),
                arrayFilter(p -> JSONExtractString(p, 'type') = 'text', JSONExtractArrayRaw(m, 'parts'))), '\n'),
            JSONExtractString(m, 'content')),
        arraySlice(arrayFilter(m -> JSONExtractString(m, 'role') = 'user', JSONExtractArrayRaw(InputMessages)), -1, 1)), ''),
    Completion String ALIAS arrayStringConcat(arrayMap(m -> if(JSONHas(m, 'parts'),
            arrayStringConcat(arrayMap(p -> JSONExtractString(p, 'content'),
                arrayFilter(p -> JSONExtractString(p, 'type') = 'text', JSONExtractArrayRaw(m, 'parts'))), '\n'),
            JSONExtractString(m, 'content')),
        JSONExtractArrayRaw(OutputMessages)), '\n')
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
-- read by SpanId only: the key makes each lookup a few granules per partition
ORDER BY (SpanId, Timestamp)
${ttl_events}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
